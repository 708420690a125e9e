package restore_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestExisting: objects that exist are never changed (same and differing
// ones, with the right reasons), missing ones are created, and the update
// policy patches only the differing one.
func TestExisting(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("ex")
	e.configMap(ns, "same", map[string]string{"k": "v"})
	e.configMap(ns, "changed", map[string]string{"k": "backup"})
	e.configMap(ns, "gone", map[string]string{"k": "v"})
	d := e.deployment(ns, "web")
	rs, _ := e.replicaSetOf(ns, d.UID)
	e.services(ns)
	sn := e.backup("ex-"+suffix(), ns)

	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, "changed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "live"
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Update(e.ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.cs.CoreV1().ConfigMaps(ns).Delete(e.ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	rep := e.restore(sn, restore.Options{}, nil)
	wantAction(t, item(t, rep, "Namespace", "", ns), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "ConfigMap", ns, "same"), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "ConfigMap", ns, "changed"), restore.Skipped, restore.ReasonExistsDiffers)
	wantAction(t, item(t, rep, "ConfigMap", ns, "gone"), restore.Created, "")
	// Server-set and defaulted fields do not make an object differ.
	wantAction(t, item(t, rep, "Deployment", ns, "web"), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "Service", ns, "web"), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "Service", ns, "web-nodeport"), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "ReplicaSet", ns, rs.Name), restore.Skipped, "owned by Deployment web")
	if got := e.data(ns, "changed"); got != "live" {
		t.Fatalf("existing object changed without opt-in: %q", got)
	}

	rep = e.restore(sn, restore.Options{ExistingResourcePolicy: restore.PolicyUpdate}, nil)
	wantAction(t, item(t, rep, "ConfigMap", ns, "changed"), restore.Updated, "")
	wantAction(t, item(t, rep, "ConfigMap", ns, "same"), restore.Skipped, restore.ReasonExistsSame)
	wantAction(t, item(t, rep, "ConfigMap", ns, "gone"), restore.Skipped, restore.ReasonExistsSame)
	if got := e.data(ns, "changed"); got != "backup" {
		t.Fatalf("update policy: data %q, want the backup's", got)
	}
}

func (e *env) data(ns, name string) string {
	e.t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cm.Data["k"]
}
