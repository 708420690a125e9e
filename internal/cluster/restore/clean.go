package restore

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// serverSetMetadata are metadata fields the API server sets on create; a
// create that carries them is rejected or they are meaningless in the new
// object.
var serverSetMetadata = []string{
	"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
}

// Labels the API server or a controller sets on a Job and its pod template
// to tie them to the Job's UID; a create that carries them with an
// auto-generated selector is rejected ("selector not auto-generated").
var jobUIDLabels = []string{
	"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name",
}

// clean removes from obj what the API server or a controller sets, so that
// it can be created in a cluster (see docs/design/cluster-restore.md for
// each field and why). It does not map namespaces or touch owner
// references.
func clean(group, resource string, obj map[string]any, o *Options) {
	for _, f := range serverSetMetadata {
		unstructured.RemoveNestedField(obj, "metadata", f)
	}
	delete(obj, "status")
	switch group + "/" + resource {
	case "/services":
		cleanService(obj, o.PreserveNodePorts)
	case "/pods":
		cleanPod(obj)
	case "/persistentvolumes":
		unstructured.RemoveNestedField(obj, "spec", "claimRef", "uid")
		unstructured.RemoveNestedField(obj, "spec", "claimRef", "resourceVersion")
	case "/persistentvolumeclaims":
		removeAnnotations(obj, "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
			"volume.kubernetes.io/selected-node")
		if o.NamespacedOnly {
			unstructured.RemoveNestedField(obj, "spec", "volumeName")
		}
	case "/secrets":
		if s, _, _ := unstructured.NestedString(obj, "type"); s == "kubernetes.io/service-account-token" {
			removeAnnotations(obj, "kubernetes.io/service-account.uid")
			for _, k := range []string{"token", "ca.crt", "namespace"} {
				unstructured.RemoveNestedField(obj, "data", k)
			}
		}
	case "apps/deployments":
		removeAnnotations(obj, "deployment.kubernetes.io/revision")
	case "batch/jobs":
		if manual, _, _ := unstructured.NestedBool(obj, "spec", "manualSelector"); !manual {
			unstructured.RemoveNestedField(obj, "spec", "selector")
			for _, l := range jobUIDLabels {
				unstructured.RemoveNestedField(obj, "metadata", "labels", l)
				unstructured.RemoveNestedField(obj, "spec", "template", "metadata", "labels", l)
			}
		}
	}
}

func cleanService(obj map[string]any, keepNodePorts bool) {
	if ip, _, _ := unstructured.NestedString(obj, "spec", "clusterIP"); ip != "None" {
		unstructured.RemoveNestedField(obj, "spec", "clusterIP")
		unstructured.RemoveNestedField(obj, "spec", "clusterIPs")
	}
	unstructured.RemoveNestedField(obj, "spec", "healthCheckNodePort")
	if keepNodePorts {
		return
	}
	ports, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", "ports")
	list, _ := ports.([]any)
	for _, p := range list {
		if m, ok := p.(map[string]any); ok {
			delete(m, "nodePort")
		}
	}
}

// cleanPod removes the node a pod ran on, its ephemeral containers (they
// cannot be set on create) and the projected service-account token volume
// the admission plugin adds ("kube-api-access-*"): it is added again, and
// one already present is rejected as a duplicate.
func cleanPod(obj map[string]any) {
	unstructured.RemoveNestedField(obj, "spec", "nodeName")
	unstructured.RemoveNestedField(obj, "spec", "ephemeralContainers")
	vols, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", "volumes")
	list, _ := vols.([]any)
	removed := map[string]bool{}
	kept := list[:0]
	for _, v := range list {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if _, projected := m["projected"]; projected && strings.HasPrefix(name, "kube-api-access-") {
			removed[name] = true
			continue
		}
		kept = append(kept, v)
	}
	if len(removed) == 0 {
		return
	}
	_ = unstructured.SetNestedField(obj, kept, "spec", "volumes")
	for _, field := range []string{"containers", "initContainers"} {
		cs, _, _ := unstructured.NestedFieldNoCopy(obj, "spec", field)
		clist, _ := cs.([]any)
		for _, c := range clist {
			cm, _ := c.(map[string]any)
			mounts, _ := cm["volumeMounts"].([]any)
			keptMounts := mounts[:0]
			for _, mt := range mounts {
				mm, _ := mt.(map[string]any)
				if n, _ := mm["name"].(string); removed[n] {
					continue
				}
				keptMounts = append(keptMounts, mt)
			}
			if mounts != nil {
				cm["volumeMounts"] = keptMounts
			}
		}
	}
}

func removeAnnotations(obj map[string]any, keys ...string) {
	for _, k := range keys {
		unstructured.RemoveNestedField(obj, "metadata", "annotations", k)
	}
}
