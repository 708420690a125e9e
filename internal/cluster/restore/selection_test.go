package restore_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestSelection applies resource and label filters to the backup's
// content; the namespace is made because the objects need it.
func TestSelection(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("sel")
	e.configMap(ns, "web-config", map[string]string{"k": "v"}) // labelled app=web
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, configMapNoLabels("other"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rbac(ns)
	sn := e.backup("sel-"+suffix(), ns)
	e.deleteNamespace(ns)

	rep := e.restore(sn, restore.Options{IncludeResources: []string{"configmaps"}, Selector: "app=web"}, nil)
	wantAction(t, item(t, rep, "Namespace", "", ns), restore.Created, "")
	wantAction(t, item(t, rep, "ConfigMap", ns, "web-config"), restore.Created, "")
	noItem(t, rep, "ConfigMap", ns, "other")
	noItem(t, rep, "ServiceAccount", ns, "app")
	noItem(t, rep, "Role", ns, "reader")
	if rep.Totals.Created != 2 {
		t.Fatalf("totals %+v", rep.Totals)
	}
}
