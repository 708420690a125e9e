package velerotest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/requester/requestertest"
)

// hostNetworkPatch is the JSON patch the webhook applies to every pod
// created in Velero's namespace: the test node gives pods no network of
// their own (a pod without hostNetwork gets no sandbox), and Velero's
// node agent makes the pods of its data path (one per PodVolumeBackup,
// "/velero pod-volume backup") without it. With the host's network, which
// is the node's network namespace, the pod reaches the API server and the
// S3 server at the addresses the test forwards there. ClusterFirstWithHostNet
// is what a hostNetwork pod is given instead of ClusterFirst.
var hostNetworkPatch = []byte(`[{"op":"add","path":"/spec/hostNetwork","value":true},` +
	`{"op":"add","path":"/spec/dnsPolicy","value":"ClusterFirstWithHostNet"}]`)

// hostNetworkWebhook serves, on 127.0.0.1 until the test ends, a mutating
// admission webhook that gives every pod created in namespace host
// networking (hostNetworkPatch), registers it with the API server of cfg
// (failurePolicy Fail: a pod it could not patch is not created) and waits
// until a dry-run pod comes back patched. It returns how many pods it
// patched so far.
func hostNetworkWebhook(t testing.TB, cfg *rest.Config, namespace string) func() int64 {
	t.Helper()
	dir, ca := requestertest.Cert(t)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("velerotest: webhook certificate: %v", err)
	}
	l, err := net.Listen("tcp", requestertest.Loopback+":0")
	if err != nil {
		t.Fatalf("velerotest: webhook: %v", err)
	}
	var patched atomic.Int64
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { admitHostNetwork(w, r, &patched) }),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("velerotest: webhook server: %v", err)
		}
	})

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := fmt.Sprintf("https://%s/pods", l.Addr())
	fail, none, scope := admissionregv1.Fail, admissionregv1.SideEffectClassNone, admissionregv1.NamespacedScope
	mwc := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "cairn-test-velero-host-network-" + namespace},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:         "host-network.velerotest.cairn.dev",
			ClientConfig: admissionregv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules: []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scope}}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{namespace}}}},
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("velerotest: register the host-network webhook: %v", err)
	}
	// Removed before the server stops (cleanups run last first).
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mwc.Name, metav1.DeleteOptions{})
	})
	eventually(t, time.Minute, "the API server patches a pod through the host-network webhook", func() error {
		probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "host-network-probe", Namespace: namespace},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: kubetest.BusyboxImage}}}}
		got, err := cs.CoreV1().Pods(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if !got.Spec.HostNetwork {
			return errors.New("the dry-run pod has no hostNetwork")
		}
		return nil
	})
	return patched.Load
}

// admitHostNetwork answers one AdmissionReview with hostNetworkPatch.
func admitHostNetwork(w http.ResponseWriter, r *http.Request, patched *atomic.Int64) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	pt := admissionv1.PatchTypeJSONPatch
	if dry := review.Request.DryRun; dry == nil || !*dry {
		patched.Add(1)
	}
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: hostNetworkPatch, PatchType: &pt}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}
