package restore_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestOwnerReferences: a config map owned by a custom resource (restored
// after it) points at the new owner's UID; an owner that is neither in the
// backup nor in the cluster is dropped with a warning; a Deployment's
// ReplicaSet is left to the Deployment.
func TestOwnerReferences(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("own")
	gvr := e.crd()
	w := e.widget(gvr, ns, "owner", map[string]any{"x": "y"})
	owned := e.configMap(ns, "owned", map[string]string{"k": "v"})
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: w.GetAPIVersion(), Kind: "Widget", Name: "owner", UID: w.GetUID()}}
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Update(e.ctx, owned, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.configMap(ns, "orphan", map[string]string{"k": "v"})
	d := e.deployment(ns, "web")
	rs, _ := e.replicaSetOf(ns, d.UID)
	sn := e.backup("own-"+suffix(), ns)
	// The ghost owner is injected into the backup: in the cluster, the
	// garbage collector would delete an object whose owner is gone.
	sn = e.rewriteObject(sn, layout.ObjectPath("", "configmaps", ns, "orphan"), func(obj map[string]any) {
		md := obj["metadata"].(map[string]any)
		md["ownerReferences"] = []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "0c5e0b1e-0000-4000-8000-000000000000"}}
	})
	e.deleteNamespace(ns)

	rep := e.restore(sn, restore.Options{}, nil)
	wantAction(t, item(t, rep, "Widget", ns, "owner"), restore.Created, "")
	wantAction(t, item(t, rep, "ConfigMap", ns, "owned"), restore.Created, "")
	orphan := item(t, rep, "ConfigMap", ns, "orphan")
	wantAction(t, orphan, restore.Created, "")
	if len(orphan.Warnings) != 1 || orphan.Warnings[0] != "owner ConfigMap ghost is not in the restore nor in the cluster: reference dropped" {
		t.Fatalf("orphan warnings: %q", orphan.Warnings)
	}
	wantAction(t, item(t, rep, "ReplicaSet", ns, rs.Name), restore.Skipped, "owned by Deployment web")

	nw, err := e.dyn.Resource(gvr).Namespace(ns).Get(e.ctx, "owner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, "owned", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != nw.GetUID() || nw.GetUID() == w.GetUID() {
		t.Fatalf("owned: owner refs %+v, new owner UID %s, old %s", cm.OwnerReferences, nw.GetUID(), w.GetUID())
	}
	cm, err = e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, "orphan", metav1.GetOptions{})
	if err != nil || len(cm.OwnerReferences) != 0 {
		t.Fatalf("orphan: owner refs %+v %v", cm.OwnerReferences, err)
	}
	d, err = e.cs.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("ReplicaSet of the restored Deployment", func() error {
		_, err := e.replicaSetOf(ns, d.UID)
		return err
	})
}
