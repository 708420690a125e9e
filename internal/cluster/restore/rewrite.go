package restore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// move rewrites e's names for the target: namespace mapping of the object,
// of a PV's claim, of a namespace's name label and of RBAC subjects.
func (x *restorer) move(e *entry, obj map[string]any, targetNS, name string) {
	if targetNS != "" {
		_ = unstructured.SetNestedField(obj, targetNS, "metadata", "namespace")
	}
	if len(x.o.NamespaceMapping) == 0 {
		return
	}
	switch e.ref.Group + "/" + e.ref.Resource {
	case "/namespaces":
		_ = unstructured.SetNestedField(obj, name, "metadata", "name")
		if _, ok, _ := unstructured.NestedString(obj, "metadata", "labels", "kubernetes.io/metadata.name"); ok {
			_ = unstructured.SetNestedField(obj, name, "metadata", "labels", "kubernetes.io/metadata.name")
		}
	case "/persistentvolumes":
		if ns, ok, _ := unstructured.NestedString(obj, "spec", "claimRef", "namespace"); ok {
			_ = unstructured.SetNestedField(obj, x.o.targetNamespace(ns), "spec", "claimRef", "namespace")
		}
	case "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings":
		subjects, _, _ := unstructured.NestedFieldNoCopy(obj, "subjects")
		list, _ := subjects.([]any)
		for _, s := range list {
			m, _ := s.(map[string]any)
			if ns, ok := m["namespace"].(string); ok && ns != "" {
				m["namespace"] = x.o.targetNamespace(ns)
			}
		}
	}
}

func setOwners(obj map[string]any, refs []metav1.OwnerReference) {
	if len(refs) == 0 {
		unstructured.RemoveNestedField(obj, "metadata", "ownerReferences")
		return
	}
	list := make([]any, len(refs))
	for i, r := range refs {
		m := map[string]any{"apiVersion": r.APIVersion, "kind": r.Kind, "name": r.Name, "uid": string(r.UID)}
		if r.Controller != nil {
			m["controller"] = *r.Controller
		}
		if r.BlockOwnerDeletion != nil {
			m["blockOwnerDeletion"] = *r.BlockOwnerDeletion
		}
		list[i] = m
	}
	_ = unstructured.SetNestedSlice(obj, list, "metadata", "ownerReferences")
}

func setLabels(obj map[string]any, labels map[string]string) {
	for k, v := range labels {
		if v != "" {
			_ = unstructured.SetNestedField(obj, v, "metadata", "labels", k)
		}
	}
}
