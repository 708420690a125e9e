package requestertest

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
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/requester"
)

// Loopback is the only address the webhook listens on.
const Loopback = "127.0.0.1"

// Cert writes a CA-signed serving certificate for 127.0.0.1 as tls.crt and
// tls.key into a new folder (a webhook server's CertDir); it returns the
// folder and the CA, PEM-encoded (the caBundle).
func Cert(t testing.TB) (dir string, ca []byte) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatalf("requestertest: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cairn webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(Loopback)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	must(err)
	kb, err := x509.MarshalECPrivateKey(key)
	must(err)
	dir = t.TempDir()
	must(os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return dir, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

// FreePort returns a loopback port free at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", Loopback+":0")
	if err != nil {
		t.Fatalf("requestertest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Register registers the webhook served at https://127.0.0.1:port (with
// the CA ca) for the NamespaceRestores of namespaces, as the chart does
// (CREATE, failurePolicy Fail), and waits until the API server admits a
// dry-run request through it. The registration is deleted when the test
// ends.
func Register(t testing.TB, cfg *rest.Config, port int, ca []byte, namespaces ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{cairnv1.AddToScheme, admissionregv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatalf("requestertest: %v", err)
	}
	url := fmt.Sprintf("https://%s:%d%s", Loopback, port, requester.Path)
	fail, none, scope := admissionregv1.Fail, admissionregv1.SideEffectClassNone, admissionregv1.NamespacedScope
	mwc := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "cairn-test-" + namespaces[0]},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "namespacerestores.cairn.dev", ClientConfig: admissionregv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules: []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{APIGroups: []string{"cairn.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"namespacerestores"}, Scope: &scope}}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces}}},
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := c.Create(ctx, mwc); err != nil {
		t.Fatalf("requestertest: register the webhook: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), mwc) })
	var last error
	for ctx.Err() == nil {
		probe := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: namespaces[0]}, Spec: cairnv1.NamespaceRestoreSpec{BackupName: "probe"}}
		if last = c.Create(ctx, probe, client.DryRunAll); last == nil && probe.Spec.Requester.Signature != "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("requestertest: the API server does not reach the webhook at %s: %v", url, last)
}

// Serve serves requester.Webhook with key on a free loopback port until
// the test ends, and registers it for namespaces (Register).
func Serve(t testing.TB, cfg *rest.Config, key []byte, namespaces ...string) {
	t.Helper()
	dir, ca := Cert(t)
	port := FreePort(t)
	srv := webhook.NewServer(webhook.Options{Host: Loopback, Port: port, CertDir: dir})
	srv.Register(requester.Path, &webhook.Admission{Handler: &requester.Webhook{Key: key}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("requestertest: webhook server: %v", err)
		}
	})
	Register(t, cfg, port, ca, namespaces...)
}
