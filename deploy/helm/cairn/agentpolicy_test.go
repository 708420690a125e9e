package chart

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// The chart's agent rights, applied for real and used with a real token of
// the agent's ServiceAccount bound to a pod on node A: the agent writes its
// own Lease and its node's work items' status, and is refused another
// node's Lease, another node's work item, a work item's spec, and
// everything with a token not bound to a node.
func TestAgentWritesOnlyItsOwnNode(t *testing.T) {
	helm := kubetest.Tool(t, "helm")
	kc := kubetest.Shared(t)
	if _, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{Paths: []string{"crds"}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing the chart's CRDs: %v", err)
	}
	ctx := t.Context()
	ns := kc.Namespace(t)
	cs := kubernetes.NewForConfigOrDie(kc.Config)
	dc := discovery.NewDiscoveryClientForConfigOrDie(kc.Config)
	version, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(kc.Config)

	// Apply the agent's ServiceAccount, RBAC and policy, as helm install
	// would (the other chart tests only dry-run, so nothing clashes).
	objs := render(t, helm, ns, version.GitVersion, base)
	applied := 0
	for key, u := range objs {
		switch u.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		default:
			continue
		}
		if !strings.Contains(key, "agent") {
			continue
		}
		apply(t, ctx, dyn, mapper, ns, u)
		applied++
	}
	if objs["ValidatingAdmissionPolicy/cairn-agent-own-node"] == nil {
		t.Fatalf("the chart rendered no ValidatingAdmissionPolicy for the agent on %s", version.GitVersion)
	}
	if applied < 6 {
		t.Fatalf("applied only %d of the agent's objects", applied)
	}
	sa := "cairn-agent"

	nodes := []string{ns + "-a", ns + "-b"}
	for _, n := range nodes {
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}) })
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-a"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa, NodeName: nodes[0],
			Containers: []corev1.Container{{Name: "agent", Image: "cairn"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := func(bound bool) *rest.Config {
		t.Helper()
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}
		if bound {
			req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
		}
		tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token for %s: %v", sa, err)
		}
		cfg := rest.AnonymousClientConfig(kc.Config)
		cfg.BearerToken = tok.Status.Token
		return cfg
	}
	agent := kubernetes.NewForConfigOrDie(token(true))
	agentDyn := dynamic.NewForConfigOrDie(token(true))
	unbound := kubernetes.NewForConfigOrDie(token(false))

	lease := func(c kubernetes.Interface, node string) error {
		_, err := c.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "cairn-agent-" + node}}, metav1.CreateOptions{})
		return err
	}
	// A policy takes effect when the API server has loaded it: wait until
	// the first refusal, then check everything else.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := lease(agent, nodes[1])
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			if !strings.Contains(err.Error(), "only its own Lease cairn-agent-"+nodes[0]) {
				t.Errorf("refusal of another node's Lease does not say why: %v", err)
			}
			break
		}
		if err == nil {
			_ = cs.CoordinationV1().Leases(ns).Delete(ctx, "cairn-agent-"+nodes[1], metav1.DeleteOptions{})
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent of node A may still create node B's Lease (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := lease(agent, nodes[0]); err != nil {
		t.Errorf("the agent cannot create its own Lease: %v", err)
	}
	if err := lease(unbound, nodes[0]+"-x"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not bound to a pod on a node") {
		t.Errorf("a token not bound to a node's pod: %v, want refused", err)
	}

	// Work items of both nodes, made by the controller (the admin here).
	pvb := schema.GroupVersionResource{Group: "cairn.dev", Version: "v1alpha1", Resource: "podvolumebackups"}
	for i, n := range nodes {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cairn.dev/v1alpha1", "kind": "PodVolumeBackup",
			"metadata": map[string]any{"name": "item-" + string(rune('a'+i))},
			"spec": map[string]any{
				"backupName": "b", "node": n, "pod": map[string]any{"namespace": ns, "name": "p", "uid": "u"}, "volume": "data", "storageLocation": "default",
			},
		}}
		if _, err := dyn.Resource(pvb).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create work item for %s: %v", n, err)
		}
	}
	status := func(name string) error {
		_, err := agentDyn.Resource(pvb).Namespace(ns).Patch(ctx, name, types.MergePatchType,
			[]byte(`{"status":{"phase":"InProgress"}}`), metav1.PatchOptions{}, "status")
		return err
	}
	if err := status("item-a"); err != nil {
		t.Errorf("the agent cannot update its node's work item: %v", err)
	}
	if err := status("item-b"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "only work items of its node") {
		t.Errorf("the agent of node A updating node B's work item: %v, want refused", err)
	}
	_, err = agentDyn.Resource(pvb).Namespace(ns).Patch(ctx, "item-a", types.MergePatchType, []byte(`{"spec":{"volume":"other"}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the agent changing a work item's spec: %v, want forbidden (RBAC)", err)
	}
}

func ptr[T any](v T) *T { return &v }

// apply creates or updates u server-side.
func apply(t *testing.T, ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, ns string, u *unstructured.Unstructured) {
	t.Helper()
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("mapping %s: %v", gvk, err)
	}
	ri := dynamic.ResourceInterface(dyn.Resource(m.Resource))
	if m.Scope.Name() == "namespace" {
		ri = dyn.Resource(m.Resource).Namespace(ns)
	} else {
		t.Cleanup(func() { _ = dyn.Resource(m.Resource).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}) })
	}
	data, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "cairn-chart-test", Force: &force}); err != nil {
		t.Fatalf("apply %s %s: %v", gvk.Kind, u.GetName(), err)
	}
}
