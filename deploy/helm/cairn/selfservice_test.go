package chart

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// checkSelfService checks the default render's self-service objects: the
// users' aggregated roles (exactly their labels and verbs), the
// controller's rights to impersonate, the webhook's certificate, Service
// and configuration, and the controller's webhook flags and mounts.
func checkSelfService(t *testing.T, objs map[string]*unstructured.Unstructured, ns string) {
	t.Helper()
	cairnRule := func(resources []string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"cairn.dev"}, Resources: resources, Verbs: verbs}
	}
	for _, tc := range []struct {
		name      string
		aggregate []string
		rules     []rbacv1.PolicyRule
	}{
		{"cairn-selfservice-view", []string{"admin", "edit", "view"}, []rbacv1.PolicyRule{cairnRule([]string{"namespacebackups", "namespacerestores"}, "get", "list", "watch")}},
		{"cairn-selfservice-edit", []string{"admin", "edit"}, []rbacv1.PolicyRule{cairnRule([]string{"namespacerestores"}, "create", "delete")}},
	} {
		var cr rbacv1.ClusterRole
		typed(t, object(t, objs, "ClusterRole/"+tc.name), &cr)
		var aggregate []string
		for k, v := range cr.Labels {
			if to, ok := strings.CutPrefix(k, "rbac.authorization.k8s.io/aggregate-to-"); ok {
				if v != "true" {
					t.Errorf("ClusterRole %s: label %s=%q, want \"true\"", tc.name, k, v)
				}
				aggregate = append(aggregate, to)
			} else if strings.HasPrefix(k, "rbac.authorization.k8s.io/") {
				t.Errorf("ClusterRole %s: label %s", tc.name, k)
			}
		}
		if slices.Sort(aggregate); !slices.Equal(aggregate, tc.aggregate) {
			t.Errorf("ClusterRole %s aggregates to %v, want %v", tc.name, aggregate, tc.aggregate)
		}
		if !reflect.DeepEqual(cr.Rules, tc.rules) {
			t.Errorf("ClusterRole %s rules:\n%+v\nwant\n%+v", tc.name, cr.Rules, tc.rules)
		}
	}

	for _, tc := range []struct {
		name  string
		rules []rbacv1.PolicyRule
	}{
		{"cairn-namespaceviews", []rbacv1.PolicyRule{
			cairnRule([]string{"namespacebackups"}, "get", "list", "watch", "create", "update", "delete"),
			cairnRule([]string{"namespacerestores"}, "get", "list", "watch"),
			cairnRule([]string{"namespacerestores/status"}, "get", "update", "patch"),
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		}},
		{"cairn-selfservice", []rbacv1.PolicyRule{
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"uids", "userextras/*"}, Verbs: []string{"impersonate"}},
		}},
	} {
		var cr rbacv1.ClusterRole
		typed(t, object(t, objs, "ClusterRole/"+tc.name), &cr)
		if !reflect.DeepEqual(cr.Rules, tc.rules) {
			t.Errorf("the controller's ClusterRole %s rules:\n%+v\nwant\n%+v", tc.name, cr.Rules, tc.rules)
		}
		var crb rbacv1.ClusterRoleBinding
		typed(t, object(t, objs, "ClusterRoleBinding/"+tc.name), &crb)
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "cairn", Namespace: ns}}
		if crb.RoleRef.Name != tc.name || !reflect.DeepEqual(crb.Subjects, want) {
			t.Errorf("ClusterRoleBinding %s: role %s, subjects %+v; want %s to %+v", tc.name, crb.RoleRef.Name, crb.Subjects, tc.name, want)
		}
	}

	// The Secret: a CA, the webhook's certificate it signed for the
	// Service's names, and a requester key the controller accepts.
	var secret corev1.Secret
	typed(t, object(t, objs, "Secret/cairn-selfservice"), &secret)
	if keys := slices.Sorted(maps.Keys(secret.Data)); !slices.Equal(keys, []string{"ca.crt", "requester-key", "tls.crt", "tls.key"}) {
		t.Fatalf("Secret cairn-selfservice keys %v", keys)
	}
	if n := len(secret.Data["requester-key"]); n != 48 {
		t.Errorf("requester-key has %d bytes, want 48", n)
	}
	verifyWebhookCert(t, secret.Data["ca.crt"], secret.Data["tls.crt"], ns)

	var svc corev1.Service
	typed(t, object(t, objs, "Service/cairn-webhook"), &svc)
	var dep appsv1.Deployment
	typed(t, object(t, objs, "Deployment/"+deploymentName(objs)), &dep)
	if !reflect.DeepEqual(svc.Spec.Selector, dep.Spec.Selector.MatchLabels) {
		t.Errorf("Service cairn-webhook selects %v, the controller's pods are %v", svc.Spec.Selector, dep.Spec.Selector.MatchLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != "webhook" {
		t.Errorf("Service cairn-webhook ports %+v, want 443 -> webhook", svc.Spec.Ports)
	}

	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	typed(t, object(t, objs, "MutatingWebhookConfiguration/cairn-namespacerestore"), &mwc)
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("MutatingWebhookConfiguration has %d webhooks, want 1", len(mwc.Webhooks))
	}
	wh := mwc.Webhooks[0]
	scope := admissionregistrationv1.NamespacedScope
	wantRules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"cairn.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"namespacerestores"}, Scope: &scope},
	}}
	if !reflect.DeepEqual(wh.Rules, wantRules) {
		t.Errorf("webhook rules %+v, want %+v", wh.Rules, wantRules)
	}
	if s := wh.ClientConfig.Service; s == nil || s.Name != "cairn-webhook" || s.Namespace != ns || s.Path == nil || *s.Path != "/mutate-namespacerestore" || wh.ClientConfig.URL != nil {
		t.Errorf("webhook client config %+v", wh.ClientConfig)
	}
	if !bytes.Equal(wh.ClientConfig.CABundle, secret.Data["ca.crt"]) {
		t.Errorf("webhook caBundle is not the Secret's ca.crt")
	}
	for what, got := range map[string]string{
		"name":               wh.Name,
		"failurePolicy":      deref(wh.FailurePolicy),
		"sideEffects":        deref(wh.SideEffects),
		"reinvocationPolicy": deref(wh.ReinvocationPolicy),
		"matchPolicy":        deref(wh.MatchPolicy),
		"timeoutSeconds":     deref(wh.TimeoutSeconds),
		"admissionReviews":   fmt.Sprint(wh.AdmissionReviewVersions),
	} {
		want := map[string]string{
			"name": "namespacerestores.cairn.dev", "failurePolicy": "Fail", "sideEffects": "None", "reinvocationPolicy": "IfNeeded",
			"matchPolicy": "Equivalent", "timeoutSeconds": "10", "admissionReviews": "[v1]",
		}[what]
		if got != want {
			t.Errorf("webhook %s %q, want %q", what, got, want)
		}
	}

	ctl := dep.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--webhook-port=9443", "--webhook-cert-dir=/etc/cairn/webhook", "--requester-key-file=/etc/cairn/selfservice/requester-key"} {
		if !slices.Contains(ctl.Args, want) {
			t.Errorf("controller args %v lack %s", ctl.Args, want)
		}
	}
	if !slices.ContainsFunc(ctl.Ports, func(p corev1.ContainerPort) bool { return p.Name == "webhook" && p.ContainerPort == 9443 }) {
		t.Errorf("controller ports %+v lack webhook 9443", ctl.Ports)
	}
	readOnly := map[string]string{}
	for _, m := range ctl.VolumeMounts {
		if m.ReadOnly {
			readOnly[m.Name] = m.MountPath
		}
	}
	var files []string
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != "cairn-selfservice" {
			continue
		}
		for _, it := range v.Secret.Items {
			if dir, ok := readOnly[v.Name]; ok && it.Key == it.Path {
				files = append(files, dir+"/"+it.Path)
			}
		}
	}
	slices.Sort(files)
	if want := []string{"/etc/cairn/selfservice/requester-key", "/etc/cairn/webhook/tls.crt", "/etc/cairn/webhook/tls.key"}; !slices.Equal(files, want) {
		t.Errorf("the controller mounts of Secret cairn-selfservice, read-only: %v, want %v", files, want)
	}
}

// verifyWebhookCert checks that the PEM certificate cert is signed by caPEM
// and valid for the webhook Service's names.
func verifyWebhookCert(t *testing.T, caPEM, certPEM []byte, ns string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt holds no PEM certificate")
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("tls.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cairn-webhook." + ns + ".svc", "cairn-webhook." + ns + ".svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("the webhook certificate for %s: %v", name, err)
		}
	}
}

func deref[T any](p *T) string {
	if p == nil {
		return "<unset>"
	}
	return fmt.Sprint(*p)
}

// typed converts a rendered object to its Go type.
func typed(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// The users' self-service roles, applied for real and used by a user with
// a client certificate: bound to them in their namespace, the user reads
// the namespace's backups and asks for restores there, and nothing more.
//
// The shared cluster of this package runs no kube-controller-manager, so
// the aggregation of these roles into the built-in admin, edit and view
// roles cannot be observed here: the RoleBindings name the chart's roles
// directly (checkSelfService checks their aggregation labels).
func TestSelfServiceRolesGiveOnlyTheNamespaceView(t *testing.T) {
	helm := kubetest.Tool(t, "helm")
	kc := kubetest.Shared(t)
	if _, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{Paths: []string{"crds"}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing the chart's CRDs: %v", err)
	}
	ctx := t.Context()
	ns, other := kc.Namespace(t), kc.Namespace(t)
	cs := kubernetes.NewForConfigOrDie(kc.Config)
	dc := discovery.NewDiscoveryClientForConfigOrDie(kc.Config)
	version, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(kc.Config)

	objs := render(t, helm, ns, version.GitVersion, base)
	for _, name := range []string{"cairn-selfservice-view", "cairn-selfservice-edit"} {
		apply(t, ctx, dyn, mapper, ns, object(t, objs, "ClusterRole/"+name))
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "owner-" + ns}},
		}
		if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	user := dynamic.NewForConfigOrDie(kc.UserConfig(t, "owner-"+ns))
	res := func(r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "cairn.dev", Version: "v1alpha1", Resource: r}
	}
	list := func(namespace, r string) error {
		_, err := user.Resource(res(r)).Namespace(namespace).List(ctx, metav1.ListOptions{})
		return err
	}
	request := func(namespace, name string) error {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cairn.dev/v1alpha1", "kind": "NamespaceRestore",
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"backupName": "daily-backup-20250101000000"},
		}}
		_, err := user.Resource(res("namespacerestores")).Namespace(namespace).Create(ctx, u, metav1.CreateOptions{})
		return err
	}

	// RoleBindings take effect when the API server's authorizer has seen
	// them.
	deadline := time.Now().Add(30 * time.Second)
	for err := list(ns, "namespacebackups"); err != nil; err = list(ns, "namespacebackups") {
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			t.Fatalf("the namespace's owner listing its NamespaceBackups: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := list(ns, "namespacerestores"); err != nil {
		t.Errorf("the owner listing the namespace's NamespaceRestores: %v", err)
	}
	// No webhook is installed here: the request is stored as sent.
	if err := request(ns, "mine"); err != nil {
		t.Errorf("the owner creating a NamespaceRestore in its namespace: %v", err)
	}
	if _, err := user.Resource(res("namespacerestores")).Namespace(ns).Patch(ctx, "mine", types.MergePatchType,
		[]byte(`{"status":{"phase":"Completed"}}`), metav1.PatchOptions{}, "status"); !apierrors.IsForbidden(err) {
		t.Errorf("the owner writing a NamespaceRestore's status: %v, want Forbidden", err)
	}
	if err := user.Resource(res("namespacerestores")).Namespace(ns).Delete(ctx, "mine", metav1.DeleteOptions{}); err != nil {
		t.Errorf("the owner deleting its NamespaceRestore: %v", err)
	}
	// Nobody else's namespace, and none of the controller's objects even
	// in its own.
	for _, r := range []string{"namespacebackups", "namespacerestores"} {
		if err := list(other, r); !apierrors.IsForbidden(err) {
			t.Errorf("the owner listing %s in another namespace: %v, want Forbidden", r, err)
		}
	}
	if err := request(other, "theirs"); !apierrors.IsForbidden(err) {
		t.Errorf("the owner creating a NamespaceRestore in another namespace: %v, want Forbidden", err)
	}
	for _, r := range []string{"backups", "restores", "backuplocations", "schedules", "podvolumerestores"} {
		if err := list(ns, r); !apierrors.IsForbidden(err) {
			t.Errorf("the owner listing %s.cairn.dev in its namespace: %v, want Forbidden", r, err)
		}
	}
	_, err = user.Resource(res("namespacebackups")).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cairn.dev/v1alpha1", "kind": "NamespaceBackup", "metadata": map[string]any{"name": "forged"},
		"status": map[string]any{"backupName": "b", "phase": "Completed"},
	}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the owner creating a NamespaceBackup: %v, want Forbidden", err)
	}
}

// An upgrade keeps the webhook's CA and certificate and the requester key:
// rendered against the cluster (helm's lookup), the chart reuses the
// Secret it finds; with no Secret it makes new ones.
func TestSelfServiceSecretKeptOnUpgrade(t *testing.T) {
	helm := kubetest.Tool(t, "helm")
	kc := kubetest.Shared(t)
	ctx := t.Context()
	ns := kc.Namespace(t)
	kubeconfig := kc.UserKubeconfig(t, "chart-installer", "system:masters")
	version, err := discovery.NewDiscoveryClientForConfigOrDie(kc.Config).ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	secret := func() map[string][]byte {
		t.Helper()
		args := []string{"template", "cairn", ".", "--namespace", ns, "--dry-run=server", "--kubeconfig", kubeconfig, "--kube-version", version.GitVersion, "--show-only", "templates/selfservice.yaml"}
		for _, s := range base {
			args = append(args, "--set", s)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(helm, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		for doc := range strings.SplitSeq(string(out), "\n---") {
			if !strings.Contains(doc, "kind: Secret") {
				continue
			}
			data := map[string][]byte{}
			inData := false
			for line := range strings.SplitSeq(doc, "\n") {
				if line == "data:" {
					inData = true
					continue
				}
				k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
				if !inData || !ok || !strings.HasPrefix(line, "  ") {
					continue
				}
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatalf("Secret key %s: %v", k, err)
				}
				data[k] = b
			}
			return data
		}
		t.Fatalf("no Secret rendered:\n%s", out)
		return nil
	}
	first, second := secret(), secret()
	if bytes.Equal(first["requester-key"], second["requester-key"]) || bytes.Equal(first["ca.crt"], second["ca.crt"]) {
		t.Fatalf("two installs without a Secret rendered the same key or CA")
	}
	cs := kubernetes.NewForConfigOrDie(kc.Config)
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cairn-selfservice"}, Data: first}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	upgrade := secret()
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key", "requester-key"} {
		if !bytes.Equal(upgrade[k], first[k]) {
			t.Errorf("an upgrade changed the Secret's %s", k)
		}
	}
	verifyWebhookCert(t, upgrade["ca.crt"], upgrade["tls.crt"], ns)
}
