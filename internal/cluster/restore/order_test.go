package restore

import (
	"testing"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

func refOf(group, resource, ns, name string) layout.ObjectRef {
	return layout.ObjectRef{Group: group, Resource: resource, Namespace: ns, Name: name}
}

func TestOrder(t *testing.T) {
	// Each resource must come after every one listed before it.
	order := [][2]string{
		{"apiextensions.k8s.io", "customresourcedefinitions"},
		{"", "namespaces"},
		{"storage.k8s.io", "storageclasses"},
		{"", "persistentvolumes"},
		{"", "persistentvolumeclaims"},
		{"", "serviceaccounts"},
		{"rbac.authorization.k8s.io", "clusterroles"},
		{"rbac.authorization.k8s.io", "rolebindings"},
		{"", "secrets"},
		{"", "configmaps"},
		{"", "resourcequotas"},
		{"", "services"},
		{"apps", "deployments"},
		{"apps", "replicasets"},
		{"", "pods"},
		{"example.com", "widgets"},
	}
	for i := 1; i < len(order); i++ {
		a, b := rankOf(order[i-1][0], order[i-1][1]), rankOf(order[i][0], order[i][1])
		if a >= b {
			t.Errorf("%v (group %d) is not before %v (group %d)", order[i-1], a, order[i], b)
		}
	}
	if !recreates("apps/Deployment", "apps/ReplicaSet") || !recreates("apps/ReplicaSet", "/Pod") || recreates("apps/Deployment", "/Pod") {
		t.Error("recreatedBy is wrong")
	}
}

func TestSelectionApply(t *testing.T) {
	mk := func(group, resource, ns, name, kind string, labels map[string]string) *entry {
		return &entry{path: layout.ObjectPath(group, resource, ns, name), ref: refOf(group, resource, ns, name), kind: kind, labels: labels}
	}
	web := map[string]string{"app": "web"}
	entries := []*entry{
		mk("", "namespaces", "", "a", "Namespace", nil),
		mk("", "namespaces", "", "b", "Namespace", nil),
		mk("", "configmaps", "a", "c1", "ConfigMap", web),
		mk("", "configmaps", "a", "c2", "ConfigMap", nil),
		mk("", "configmaps", "b", "c3", "ConfigMap", web),
		mk("example.com", "widgets", "a", "w", "Widget", web),
		mk("apiextensions.k8s.io", "customresourcedefinitions", "", "widgets.example.com", "CustomResourceDefinition", nil),
		mk("rbac.authorization.k8s.io", "clusterroles", "", "cr", "ClusterRole", web),
		mk("", "persistentvolumeclaims", "a", "data", "PersistentVolumeClaim", web),
		mk("", "persistentvolumes", "", "pv1", "PersistentVolume", nil),
		mk("storage.k8s.io", "storageclasses", "", "fast", "StorageClass", nil),
	}
	entries[8].volumeName, entries[8].storageClass = "pv1", "fast"
	o := &Options{IncludeNamespaces: []string{"a"}, Selector: "app=web"}
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	s, err := newSelection(o)
	if err != nil {
		t.Fatal(err)
	}
	s.apply(entries)
	want := map[string]bool{"a": true, "c1": true, "w": true, "widgets.example.com": true, "data": true, "pv1": true, "fast": true}
	for _, e := range entries {
		if e.selected != want[e.ref.Name] {
			t.Errorf("%s: selected %v, want %v", e.path, e.selected, want[e.ref.Name])
		}
	}
}
