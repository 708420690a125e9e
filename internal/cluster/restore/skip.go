package restore

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// clusterMade says why an object is not restored because the cluster
// makes it (or it must not come back), or "".
func (x *restorer) clusterMade(e *entry, obj map[string]any) string {
	labels, _, _ := unstructured.NestedStringMap(obj, "metadata", "labels")
	switch e.ref.Group + "/" + e.ref.Resource {
	case "/configmaps":
		if e.ref.Name == "kube-root-ca.crt" {
			return ReasonClusterMade + " (the cluster's CA bundle)"
		}
	case "/serviceaccounts":
		if e.ref.Name == "default" && !customizedDefaultSA(obj) {
			return ReasonClusterMade + " (every namespace's default service account)"
		}
	case "/events", "events.k8s.io/events":
		return "events are not restored"
	case "cairn.dev/namespacebackups":
		return ReasonClusterMade + " (cairn's controller keeps these views of its backups)"
	case "cairn.dev/namespacerestores":
		return "namespace restore requests are not restored: one restored would run again, as whoever restores it"
	case "/endpoints":
		if labels["endpoints.kubernetes.io/managed-by"] != "" || x.selectorServices[e.ref.Namespace+"/"+e.ref.Name] {
			return ReasonClusterMade + " (the endpoints controller, from its service)"
		}
	case "discovery.k8s.io/endpointslices":
		switch labels["endpointslice.kubernetes.io/managed-by"] {
		case "endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io":
			return ReasonClusterMade + " (the endpoint slice controller, from its service)"
		}
	case "/pods":
		if phase, _, _ := unstructured.NestedString(obj, "status", "phase"); phase == "Succeeded" || phase == "Failed" {
			return "pod has finished (" + phase + "); restoring it would run it again"
		}
	case "batch/jobs":
		if c := finishedCondition(obj); c != "" {
			return "job has finished (" + c + "); restoring it would run it again"
		}
	}
	return ""
}

// customizedDefaultSA reports whether a namespace's default service
// account carries anything the cluster does not give it.
func customizedDefaultSA(obj map[string]any) bool {
	for _, f := range []string{"imagePullSecrets", "automountServiceAccountToken"} {
		if _, ok := obj[f]; ok {
			return true
		}
	}
	labels, _, _ := unstructured.NestedMap(obj, "metadata", "labels")
	annotations, _, _ := unstructured.NestedMap(obj, "metadata", "annotations")
	return len(labels) > 0 || len(annotations) > 0
}

func finishedCondition(obj map[string]any) string {
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		if (t == "Complete" || t == "Failed") && strings.EqualFold(s, "true") {
			return t
		}
	}
	return ""
}
