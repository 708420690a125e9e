package controller_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/s3"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// A BackupLocation on an S3 server behind TLS whose certificate a private
// CA signed: without spec.ca it is Unavailable and says the certificate
// is not trusted; a Secret that holds no certificate is named; with the
// CA's Secret it is Available and a Backup to it completes.
func TestLocationBehindPrivateCA(t *testing.T) {
	srv := s3test.StartTLS(t)
	srv.CreateBucket(t, "tls", false)
	e := newEnv(t, noGuardrails)
	st, err := s3.New(e.ctx, srv.Options("tls", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(e.ctx, st, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()

	sel := func(name, key string) corev1.SecretKeySelector {
		return corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
	}
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls-pass", Namespace: e.ns}, StringData: map[string]string{"passphrase": passphrase}})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls-s3", Namespace: e.ns}, StringData: map[string]string{
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
	}})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls-ca", Namespace: e.ns}, Data: map[string][]byte{"ca.crt": srv.CA}})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "not-a-ca", Namespace: e.ns}, StringData: map[string]string{"ca.crt": "hello"}})
	e.create(&cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: e.ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: "s3://tls/cluster", Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true, Default: true,
			Passphrase:  sel("tls-pass", "passphrase"),
			Credentials: &corev1.LocalObjectReference{Name: "tls-s3"},
		},
	})

	status := func(ca *corev1.SecretKeySelector) cairnv1.BackupLocationStatus {
		t.Helper()
		var loc cairnv1.BackupLocation
		e.get("tls", &loc)
		p := client.MergeFrom(loc.DeepCopy())
		loc.Spec.CA = ca
		if err := e.c.Patch(e.ctx, &loc, p); err != nil {
			t.Fatal(err)
		}
		e.reconcile(e.rs.Location, "tls")
		e.get("tls", &loc)
		return loc.Status
	}
	if st := status(nil); st.Phase != cairnv1.LocationUnavailable || !strings.Contains(st.Message, "certificate") {
		t.Errorf("without spec.ca: phase %s, message %q; want Unavailable, about the certificate", st.Phase, st.Message)
	}
	bad := sel("not-a-ca", "ca.crt")
	if st := status(&bad); st.Phase != cairnv1.LocationUnavailable || !strings.Contains(st.Message, "no PEM certificate") {
		t.Errorf("with a Secret that holds no certificate: phase %s, message %q", st.Phase, st.Message)
	}
	good := sel("tls-ca", "ca.crt")
	if st := status(&good); st.Phase != cairnv1.LocationAvailable {
		t.Fatalf("with the CA: phase %s, message %q; want Available", st.Phase, st.Message)
	}

	e.configMap("app-config")
	e.create(&cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: "over-tls", Namespace: e.ns},
		Spec:       cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(48 * time.Hour)},
	})
	e.reconcile(e.rs.Backup, "over-tls")
	var b cairnv1.Backup
	e.get("over-tls", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.SnapshotID == "" {
		t.Fatalf("backup over TLS: phase %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}
}
