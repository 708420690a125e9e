package requester_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/requester"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestWebhookOnTheAPIServer registers the webhook, served on 127.0.0.1,
// with the real API server: a user's NamespaceRestore that claims to be
// system:admin in system:masters is stored with the user's own name and
// groups, signed so that Verify accepts it; the user cannot change the
// requester (or anything of the spec) afterwards; an administrator's
// request carries the administrator's identity; a request without a name
// is refused.
func TestWebhookOnTheAPIServer(t *testing.T) {
	kc := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{cairnv1.AddToScheme, rbacv1.AddToScheme, admissionregv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := client.New(kc.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ns := kc.Namespace(t)
	k := key(t)

	// The webhook server, as the controller runs it.
	dir, caPEM := serving(t)
	port := freePort(t)
	srv := webhook.NewServer(webhook.Options{Host: kubetest.Loopback, Port: port, CertDir: dir})
	srv.Register(requester.Path, &webhook.Admission{Handler: &requester.Webhook{Key: k}})
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(sctx) }()
	defer func() { stop(); <-done }()

	url := fmt.Sprintf("https://%s:%d%s", kubetest.Loopback, port, requester.Path)
	fail, none, v1 := admissionregv1.Fail, admissionregv1.SideEffectClassNone, []string{"v1"}
	scope := admissionregv1.NamespacedScope
	mwc := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "cairn-test-" + ns},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "namespacerestores.cairn.dev", ClientConfig: admissionregv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules: []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{APIGroups: []string{"cairn.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"namespacerestores"}, Scope: &scope}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: v1,
		}},
	}
	if err := admin.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Delete(context.Background(), mwc) }()

	user := "alice-" + ns
	rules := []rbacv1.PolicyRule{{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacerestores"}, Verbs: []string{"get", "create", "update", "patch"}}}
	must(t, admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "restorer", Namespace: ns}, Rules: rules}))
	must(t, admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "restorer", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "restorer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}))
	alice, err := client.New(kc.UserConfig(t, user, "team-a"), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}

	forged := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{
		BackupName: "nightly", Requester: cairnv1.Requester{Username: "system:admin", Groups: []string{"system:masters"}, Signature: "made-up"}}}
	// The webhook may take a moment to be reachable.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := alice.Create(ctx, forged)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice creates a NamespaceRestore: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got cairnv1.NamespaceRestore
	must(t, alice.Get(ctx, client.ObjectKeyFromObject(forged), &got))
	r := got.Spec.Requester
	if r.Username != user || !contains(r.Groups, "team-a") || !contains(r.Groups, "system:authenticated") || contains(r.Groups, "system:masters") {
		t.Fatalf("stored requester %+v, want alice's own identity", r)
	}
	if err := requester.Verify(k, &got); err != nil {
		t.Fatalf("the stored request does not verify: %v", err)
	}

	got.Spec.Requester.Username = "system:admin"
	if err := alice.Update(ctx, &got); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("alice changes the requester: %v, want refused", err)
	}
	must(t, alice.Get(ctx, client.ObjectKeyFromObject(forged), &got))
	got.Spec.TargetNamespace = "elsewhere"
	if err := alice.Update(ctx, &got); err == nil {
		t.Errorf("alice changes the spec after admission: accepted")
	}

	byAdmin := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{BackupName: "nightly"}}
	must(t, admin.Create(ctx, byAdmin))
	if byAdmin.Spec.Requester.Username == "" || byAdmin.Spec.Requester.Username == user || requester.Verify(k, byAdmin) != nil {
		t.Errorf("the administrator's request: requester %+v", byAdmin.Spec.Requester)
	}

	unnamed := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{GenerateName: "r-", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{BackupName: "nightly"}}
	if err := alice.Create(ctx, unnamed); err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Errorf("a request without a name: %v, want refused", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", kubetest.Loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serving writes a CA-signed serving certificate for 127.0.0.1 as tls.crt
// and tls.key into a new folder; it returns the folder and the CA (PEM).
func serving(t *testing.T) (string, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cairn webhook"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(kubetest.Loopback)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	must(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return dir, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
