package restore_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestDryRun reports what would happen and creates nothing: into a
// namespace that is gone (objects cannot be validated), and into one that
// exists (creates are validated by the server with dryRun=All).
func TestDryRun(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("dry")
	e.configMap(ns, "settings", map[string]string{"k": "v"})
	e.deployment(ns, "web")
	sn := e.backup("dry-"+suffix(), ns)
	e.deleteNamespace(ns)

	rep := e.restore(sn, restore.Options{DryRun: true}, nil)
	if rep.Phase != layout.PhaseCompleted || rep.Totals.Created != 0 || rep.Totals.WouldCreate == 0 {
		t.Fatalf("phase %s, totals %+v", rep.Phase, rep.Totals)
	}
	wantAction(t, item(t, rep, "Namespace", "", ns), restore.WouldCreate, "")
	wantAction(t, item(t, rep, "ConfigMap", ns, "settings"), restore.WouldCreate, "not validated")
	if _, err := e.cs.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run created namespace %s (%v)", ns, err)
	}

	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep = e.restore(sn, restore.Options{DryRun: true}, nil)
	wantAction(t, item(t, rep, "ConfigMap", ns, "settings"), restore.WouldCreate, "")
	if it := item(t, rep, "ConfigMap", ns, "settings"); it.Reason != "" {
		t.Fatalf("validated create has a reason: %q", it.Reason)
	}
	wantAction(t, item(t, rep, "Deployment", ns, "web"), restore.WouldCreate, "")
	list, err := e.cs.CoreV1().ConfigMaps(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range list.Items {
		if cm.Name == "settings" {
			t.Fatal("dry run created a config map")
		}
	}
	if ds, _ := e.cs.AppsV1().Deployments(ns).List(e.ctx, metav1.ListOptions{}); len(ds.Items) != 0 {
		t.Fatal("dry run created a deployment")
	}
}
