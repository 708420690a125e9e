package restore_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestNamespaceMapping restores a namespace's objects under another name
// beside the original, which is left alone.
func TestNamespaceMapping(t *testing.T) {
	e := newEnv(t)
	src := e.namespace("map-src")
	dst := "map-dst-" + suffix()
	e.cleanupNamespace(dst)
	e.configMap(src, "settings", map[string]string{"k": "v"})
	e.rbac(src)
	e.deployment(src, "web")
	sn := e.backup("map-"+suffix(), src)

	rep := e.restore(sn, restore.Options{NamespaceMapping: map[string]string{src: dst}}, nil)
	if rep.Phase != layout.PhaseCompleted {
		t.Fatalf("phase %s", rep.Phase)
	}
	wantAction(t, item(t, rep, "Namespace", "", dst), restore.Created, "")
	wantAction(t, item(t, rep, "ConfigMap", dst, "settings"), restore.Created, "")
	wantAction(t, item(t, rep, "Deployment", dst, "web"), restore.Created, "")
	for _, it := range rep.Items {
		if it.Namespace == src || (it.Kind == "Namespace" && it.Name == src) {
			t.Fatalf("item in the source namespace: %+v", it)
		}
	}
	ns, err := e.cs.CoreV1().Namespaces().Get(e.ctx, dst, metav1.GetOptions{})
	if err != nil || ns.Labels["kubernetes.io/metadata.name"] != dst {
		t.Fatalf("namespace %s: %v %v", dst, ns.Labels, err)
	}
	rb, err := e.cs.RbacV1().RoleBindings(dst).Get(e.ctx, "app-reader", metav1.GetOptions{})
	if err != nil || rb.Subjects[0].Namespace != dst {
		t.Fatalf("role binding subject: %+v %v", rb.Subjects, err)
	}
	if got := e.data(dst, "settings"); got != "v" {
		t.Fatalf("mapped config map: data %q", got)
	}
	if cm, err := e.cs.CoreV1().ConfigMaps(src).Get(e.ctx, "settings", metav1.GetOptions{}); err != nil || cm.Labels[restore.LabelRestore] != "" {
		t.Fatalf("source config map touched: %v %v", cm.Labels, err)
	}
}
