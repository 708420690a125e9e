//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/ctlcmd"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestCtlLocationAndRestoreLogs drives `cairn ctl location
// create|get|set|delete` and `cairn ctl restore logs` against a real API
// server with the chart's CRDs, and checks the objects they leave.
func TestCtlLocationAndRestoreLogs(t *testing.T) {
	kc := kubetest.Start(t)
	crds, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("loading the CRDs: %d loaded, want %d (%v), %v", len(crds), len(cairnv1.Kinds), cairnv1.Kinds, err)
	}
	ns := kc.Namespace(t)
	e := env{"KUBECONFIG": kc.Kubeconfig, "CAIRN_NAMESPACE": ns}
	scheme := runtime.NewScheme()
	if err := cairnv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(kc.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	get := func(name string) *cairnv1.BackupLocation {
		t.Helper()
		var l cairnv1.BackupLocation
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &l); err != nil {
			t.Fatalf("location %s: %v", name, err)
		}
		return &l
	}

	// create: s3 with credentials and an endpoint (path style follows).
	cairn(t, e, "ctl", "location", "create", "main", "--url", "s3://bucket/cluster-a", "--passphrase-secret", "repo-pass",
		"--credentials-secret", "s3-creds", "--default", "--s3-endpoint", "http://minio.example:9000", "--s3-region", "eu-north-1").must(t, 0)
	m := get("main")
	sp := m.Spec
	if sp.Repository != "s3://bucket/cluster-a" || sp.Passphrase.Name != "repo-pass" || sp.Passphrase.Key != "passphrase" ||
		sp.Credentials == nil || sp.Credentials.Name != "s3-creds" || !sp.Default || sp.AccessMode != cairnv1.ReadWrite ||
		sp.Endpoint != "http://minio.example:9000" || sp.Region != "eu-north-1" || !sp.PathStyle {
		t.Fatalf("location main: %+v", sp)
	}

	// A second default takes over; -o json shows the created location.
	r := cairn(t, e, "ctl", "location", "create", "other", "--url", "/data/repo", "--passphrase-secret", "p:key",
		"--access-mode", "readonly", "--default", "-o", "json").must(t, 0)
	var row ctlcmd.LocationRow
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil || row.Name != "other" || row.AccessMode != "ReadOnly" || !row.Default {
		t.Fatalf("create -o json: %v\n%s", err, r.stdout)
	}
	if o := get("other"); o.Spec.Passphrase.Key != "key" || o.Spec.PathStyle || o.Spec.Endpoint != "" {
		t.Errorf("location other: %+v", o.Spec)
	}
	if get("main").Spec.Default {
		t.Error("main is still default after other was created with --default")
	}

	// Bad input: exit 2, nothing created.
	for _, bad := range [][]string{
		{"create", "x", "--passphrase-secret", "p"},                                       // no URL
		{"create", "x", "--url", "s3://b/p"},                                              // no passphrase
		{"create", "x", "--url", "ftp://h/p", "--passphrase-secret", "p"},                 // scheme
		{"create", "x", "--url", "/r", "--passphrase-secret", "p", "--access-mode", "rw"}, // mode
		{"create", "x", "--url", "/r", "--passphrase-secret", "p", "--credentials-secret", "c"},
		{"create", "main", "--url", "/r", "--passphrase-secret", "p", "extra"},
		{"set", "main"}, // nothing to set
		{"set", "main", "--access-mode", "WriteOnly"},
		{"set", "nope", "--default"},
		{"delete", "nope"},
	} {
		r := cairn(t, e, append([]string{"ctl", "location"}, bad...)...)
		if r.code != 2 {
			t.Errorf("location %v: exit %d, want 2\n%s%s", bad, r.code, r.stdout, r.stderr)
		}
	}
	// An existing name is the API server's conflict: exit 1 with its reason.
	r = cairn(t, e, "ctl", "location", "create", "main", "--url", "/r", "--passphrase-secret", "p").must(t, 1)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("create of an existing location: %s", r.stderr)
	}

	// set: default back to main, then read-only; -o yaml shows the result.
	r = cairn(t, e, "ctl", "location", "set", "main", "--default").must(t, 0)
	if !strings.Contains(r.stdout, "location other is no longer the default") {
		t.Errorf("set --default:\n%s", r.stdout)
	}
	if !get("main").Spec.Default || get("other").Spec.Default {
		t.Error("set --default: main should be the only default")
	}
	r = cairn(t, e, "ctl", "location", "set", "main", "--access-mode", "ReadOnly", "--credentials-secret", "", "-o", "yaml").must(t, 0)
	if !strings.Contains(r.stdout, "accessMode: ReadOnly") || !strings.Contains(r.stdout, "default: true") {
		t.Errorf("set -o yaml:\n%s", r.stdout)
	}
	if m := get("main"); m.Spec.AccessMode != cairnv1.ReadOnly || m.Spec.Credentials != nil || m.Spec.Repository != "s3://bucket/cluster-a" {
		t.Errorf("after set: %+v", m.Spec)
	}
	cairn(t, e, "ctl", "location", "set", "main", "--default=false").must(t, 0)
	if get("main").Spec.Default {
		t.Error("--default=false left it default")
	}

	// get: all, by name, table and json.
	var rows []ctlcmd.LocationRow
	r = cairn(t, e, "ctl", "location", "get", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("get -o json: %v\n%s", err, r.stdout)
	}
	r = cairn(t, e, "ctl", "location", "get", "other").must(t, 0)
	if !strings.Contains(r.stdout, "/data/repo") || strings.Contains(r.stdout, "cluster-a") {
		t.Errorf("get other:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "location", "get", "nope").must(t, 2)

	// delete.
	cairn(t, e, "ctl", "location", "delete", "other").must(t, 0)
	r = cairn(t, e, "ctl", "location", "get", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Name != "main" {
		t.Fatalf("get after delete: %v\n%s", err, r.stdout)
	}

	// restore logs: what the controller recorded in the status.
	rs := &cairnv1.Restore{}
	rs.Name, rs.Namespace, rs.Spec.BackupName = "r1", ns, "daily-backup-20250101000000"
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	r = cairn(t, e, "ctl", "restore", "logs", "r1").must(t, 0)
	if !strings.Contains(r.stdout, "New") || !strings.Contains(r.stdout, "not finished") {
		t.Errorf("logs of a new restore:\n%s", r.stdout)
	}
	rs.Status = cairnv1.RestoreStatus{
		Phase: cairnv1.PhasePartiallyFailed, BackupName: "daily-backup-20250101000000",
		RestoreOutcome: cairnv1.RestoreOutcome{
			FailureReason: "25 objects could not be restored: ConfigMap shop/a: admission denied",
			Created:       10, Skipped: 2, Failed: 25, Warnings: 3,
			Failures: []string{"ConfigMap shop/a: admission denied", "Secret shop/b: forbidden"},
			Volumes:  &cairnv1.VolumeSummary{Completed: 1, Failed: []string{"shop/db-0 data: no space"}, Missed: []string{"shop/web-0 cache: hostPath"}},
		},
	}
	if err := c.Status().Update(ctx, rs); err != nil {
		t.Fatal(err)
	}
	r = cairn(t, e, "ctl", "restore", "logs", "r1").must(t, 0)
	for _, want := range []string{
		"restore r1 of backup daily-backup-20250101000000: PartiallyFailed, 10 created, 0 updated, 2 skipped, 25 failed",
		"error: 25 objects could not be restored",
		"error: failed: ConfigMap shop/a: admission denied",
		"error: failed: Secret shop/b: forbidden",
		"error: 23 more objects failed",
		"error: pod volume failed: shop/db-0 data: no space",
		"warning: pod volume missed: shop/web-0 cache: hostPath",
		"warning: 3 warnings",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("restore logs: no %q in\n%s", want, r.stdout)
		}
	}
	var lines []ctlcmd.LogLine
	r = cairn(t, e, "ctl", "restore", "logs", "r1", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &lines); err != nil || len(lines) != 7 || lines[0].Level != "error" || lines[6].Level != "warning" {
		t.Fatalf("restore logs -o json: %v\n%s", err, r.stdout)
	}
	r = cairn(t, e, "ctl", "restore", "logs", "r1", "-o", "yaml").must(t, 0)
	if !strings.Contains(r.stdout, "- level: error") {
		t.Errorf("restore logs -o yaml:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "restore", "logs", "nope").must(t, 2)
	cairn(t, e, "ctl", "restore", "logs").must(t, 2)
}
