package controller_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/velero/velerotest"
)

// TestVeleroImportInCluster: the real Velero server backs up a namespace
// to the real S3 server; a BackupLocation with spec.veleroImport imports
// it, one backup per step, and its sync shows it as a Backup with
// Velero's phase and expiry. A second step imports nothing new.
func TestVeleroImportInCluster(t *testing.T) {
	e := newEnv(t, noGuardrails)
	srv := s3test.Start(t)
	srv.CreateBucket(t, "velero", false)
	e.configMap("settings")
	vs := velerotest.Start(t, kubetest.Shared(t), srv, "velero", "c1")
	vb := vs.Backup("nightly-1", map[string]any{"includedNamespaces": []any{e.ns}, "ttl": "720h0m0s"})
	if phase, _, _ := unstructured.NestedString(vb.Object, "status", "phase"); phase != "Completed" {
		t.Fatalf("velero backup: phase %s", phase)
	}
	vs.Stop()

	e.location("main", "")
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "velero-s3", Namespace: e.ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey}})
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	loc.Spec.VeleroImport = &cairnv1.VeleroImport{Location: "s3://velero/c1", Endpoint: srv.Endpoint, Region: s3test.Region,
		PathStyle: true, Credentials: &corev1.LocalObjectReference{Name: "velero-s3"}}
	if err := e.c.Update(e.ctx, &loc); err != nil {
		t.Fatal(err)
	}

	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	st := loc.Status.VeleroImport
	if st == nil || st.Imported != 1 || st.Pending != 0 || !strings.Contains(st.Message, "imported Velero backup nightly-1") {
		t.Fatalf("status.veleroImport %+v (location %s: %s)", st, loc.Status.Phase, loc.Status.Message)
	}
	b, ok := e.backups()["nightly-1"]
	exp, _, _ := unstructured.NestedString(vb.Object, "status", "expiration")
	if !ok || b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Items == 0 || b.Status.Expiration == nil ||
		b.Status.Expiration.UTC().Format("2006-01-02T15:04:05Z") != exp || b.Labels[cairnv1.LabelSynced] != "true" {
		t.Fatalf("synced Backup nightly-1: %v %+v (velero expiration %s)", ok, b.Status, exp)
	}

	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	if st := loc.Status.VeleroImport; st.Imported != 1 || st.Pending != 0 || !strings.Contains(st.Message, "1 backups imported") {
		t.Fatalf("second step: %+v", st)
	}
}
