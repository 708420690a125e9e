package restore_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestRoundTrip backs up a namespace with every built-in kind the demo
// uses plus a CRD and custom resources, deletes it all, restores, and
// checks what came back and what the cluster made again by itself.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("rt")
	e.configMap(ns, "settings", map[string]string{"greeting": "hello"})
	if _, err := e.cs.CoreV1().Secrets(ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rbac(ns)
	sc, pv := e.volume(ns)
	oldDeploy := e.deployment(ns, "web")
	oldRS, _ := e.replicaSetOf(ns, oldDeploy.UID)
	e.services(ns)
	gvr := e.crd()
	e.widget(gvr, ns, "w1", map[string]any{"size": int64(3)})
	crdName := gvr.Resource + "." + gvr.Group

	sn := e.backup("rt-"+suffix(), ns)

	e.deleteNamespace(ns)
	e.deleteCluster(pvGVR, pv)
	e.deleteCluster(scGVR, sc)
	e.deleteCluster(crdGVR, crdName)

	rep := e.restore(sn, restore.Options{Name: "rt-restore"}, nil)
	if rep.Phase != layout.PhaseCompleted || rep.Totals.Failed != 0 {
		t.Fatalf("phase %s, totals %+v", rep.Phase, rep.Totals)
	}
	for _, want := range []struct{ kind, ns, name string }{
		{"CustomResourceDefinition", "", crdName},
		{"Namespace", "", ns},
		{"StorageClass", "", sc},
		{"PersistentVolume", "", pv},
		{"PersistentVolumeClaim", ns, "data"},
		{"ServiceAccount", ns, "app"},
		{"Role", ns, "reader"},
		{"RoleBinding", ns, "app-reader"},
		{"Secret", ns, "creds"},
		{"ConfigMap", ns, "settings"},
		{"Service", ns, "web"},
		{"Service", ns, "web-headless"},
		{"Service", ns, "web-nodeport"},
		{"Deployment", ns, "web"},
		{"Widget", ns, "w1"},
	} {
		wantAction(t, item(t, rep, want.kind, want.ns, want.name), restore.Created, "")
	}
	wantAction(t, item(t, rep, "ReplicaSet", ns, oldRS.Name), restore.Skipped, "owned by Deployment web")
	wantAction(t, item(t, rep, "ConfigMap", ns, "kube-root-ca.crt"), restore.Skipped, restore.ReasonClusterMade)
	wantAction(t, item(t, rep, "ServiceAccount", ns, "default"), restore.Skipped, restore.ReasonClusterMade)

	// Contents and labels.
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["greeting"] != "hello" || cm.Labels[restore.LabelRestore] != "rt-restore" || cm.Labels[restore.LabelBackup] != rep.Backup {
		t.Fatalf("config map: data %v, labels %v", cm.Data, cm.Labels)
	}
	sec, err := e.cs.CoreV1().Secrets(ns).Get(e.ctx, "creds", metav1.GetOptions{})
	if err != nil || string(sec.Data["password"]) != "s3cret" {
		t.Fatalf("secret: %v %v", sec.Data, err)
	}
	sa, err := e.cs.CoreV1().ServiceAccounts(ns).Get(e.ctx, "app", metav1.GetOptions{})
	if err != nil || len(sa.ImagePullSecrets) != 1 {
		t.Fatalf("service account: %+v %v", sa, err)
	}
	headless, err := e.cs.CoreV1().Services(ns).Get(e.ctx, "web-headless", metav1.GetOptions{})
	if err != nil || headless.Spec.ClusterIP != "None" {
		t.Fatalf("headless service: clusterIP %q %v", headless.Spec.ClusterIP, err)
	}
	web, err := e.cs.CoreV1().Services(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil || web.Spec.ClusterIP == "" || web.Spec.ClusterIP == "None" {
		t.Fatalf("service: clusterIP %q %v", web.Spec.ClusterIP, err)
	}
	w, err := e.dyn.Resource(gvr).Namespace(ns).Get(e.ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Fatalf("widget spec: %v", w.Object["spec"])
	}

	// What the cluster does with them: the claim binds to its volume
	// again, the Deployment makes a new ReplicaSet owned by it.
	e.waitBound(ns, "data", pv)
	d, err := e.cs.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("ReplicaSet of the restored Deployment", func() error {
		_, err := e.replicaSetOf(ns, d.UID)
		return err
	})
	rss, err := e.cs.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("want exactly one ReplicaSet, have %d (%v)", len(rss.Items), err)
	}
}
