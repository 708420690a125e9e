package backup

import (
	"path"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// never lists the resource types that are never backed up, with the
// reason. docs/design/cluster-backup.md explains each.
var never = map[string]string{
	"events":                                         "events are a short-lived record of what happened, not state",
	"events.events.k8s.io":                           "events are a short-lived record of what happened, not state",
	"nodes":                                          "nodes belong to the machines, which register themselves",
	"leases.coordination.k8s.io":                     "leases are heartbeats and leader locks, rewritten every few seconds",
	"componentstatuses":                              "component statuses are computed on each request",
	"csinodes.storage.k8s.io":                        "CSI node objects are written by each node's kubelet",
	"volumeattachments.storage.k8s.io":               "volume attachments are made by the attach/detach controller for the nodes of now",
	"ipaddresses.networking.k8s.io":                  "service IP allocations are made by the API server when a Service is created",
	"resourceslices.resource.k8s.io":                 "resource slices are published by drivers on each node",
	"pods.metrics.k8s.io":                            "metrics are measurements, not state",
	"nodes.metrics.k8s.io":                           "metrics are measurements, not state",
	"certificatesigningrequests.certificates.k8s.io": "certificate requests are one-off exchanges; their certificates expire",
	"namespacebackups.cairn.dev":                     "cairn's controller keeps these views of its own backups",
	"namespacerestores.cairn.dev":                    "namespace restore requests are one-off; one restored would run again, as whoever restores it",
}

// Object-level rules: objects the cluster rebuilds by itself.
const (
	skipMirrorPod    = "mirror pods (the kubelet recreates them from static manifests)"
	skipSAToken      = "service-account token secrets (the cluster mints them)"
	skipEndpoints    = "endpoints and endpoint slices maintained by controllers (rebuilt from their Services)"
	skipOptOut       = "objects opted out by label"
	labelEPManagedBy = "endpoints.kubernetes.io/managed-by"
	labelESManagedBy = "endpointslice.kubernetes.io/managed-by"
)

// neverReason returns why r is never backed up, or "".
func neverReason(r layout.Resource) string { return never[r.GroupResource()] }

// matchResource reports whether a pattern list names r: "*", "resource"
// (any group), "resource.group" ("resource.core" for the core group).
// explicit reports a match by name rather than by "*".
func matchResource(patterns []string, r layout.Resource) (match, explicit bool) {
	gr := r.GroupResource()
	for _, p := range patterns {
		p = strings.ToLower(p)
		switch {
		case p == "*":
			match = true
		case p == r.Resource, p == gr, r.Group == "" && p == r.Resource+"."+layout.CoreGroup:
			return true, true
		}
	}
	return match, false
}

// resourceSelected applies --include-resources and --exclude-resources.
func (o *Options) resourceSelected(r layout.Resource) (selected, explicit bool) {
	if ex, _ := matchResource(o.ExcludeResources, r); ex {
		return false, false
	}
	if len(o.IncludeResources) == 0 {
		return true, false
	}
	return matchResource(o.IncludeResources, r)
}

// resourceExcluded reports an explicit exclusion, which wins even over
// what selected objects need.
func (o *Options) resourceExcluded(r layout.Resource) bool {
	ex, _ := matchResource(o.ExcludeResources, r)
	return ex
}

// namespaceSelected applies the namespace globs and the platform list.
func (o *Options) namespaceSelected(ns string) bool {
	for _, g := range o.ExcludeNamespaces {
		if ok, _ := path.Match(g, ns); ok {
			return false
		}
	}
	if len(o.IncludeNamespaces) == 0 {
		return !slices.Contains(o.PlatformNamespaces, ns)
	}
	for _, g := range o.IncludeNamespaces {
		if ok, _ := path.Match(g, ns); ok {
			return true
		}
	}
	return false
}

// allNamespaces reports a backup unrestricted by namespace
// (--include-namespaces '*' and no exclusions).
func (o *Options) allNamespaces() bool {
	return slices.Contains(o.IncludeNamespaces, "*") && len(o.ExcludeNamespaces) == 0
}

// literalNamespaces returns the include list when every entry is a plain
// name (no glob), else nil.
func (o *Options) literalNamespaces() []string {
	if len(o.IncludeNamespaces) == 0 {
		return nil
	}
	for _, g := range o.IncludeNamespaces {
		if strings.ContainsAny(g, `*?[\`) {
			return nil
		}
	}
	return o.IncludeNamespaces
}

// optedOut reports whether labels opt an object or namespace out.
func (o *Options) optedOut(labels map[string]string) bool {
	if _, ok := labels[o.OptOutLabel]; ok {
		return true
	}
	return labels[VeleroExcludeLabel] == "true"
}

// rebuilt returns why the cluster rebuilds obj by itself (so it is not
// backed up), or "".
func rebuilt(r layout.Resource, obj *object) string {
	switch r.GroupResource() {
	case "pods":
		if _, ok := obj.meta.Annotations["kubernetes.io/config.mirror"]; ok {
			return skipMirrorPod
		}
	case "secrets":
		if obj.secretType == "kubernetes.io/service-account-token" {
			return skipSAToken
		}
	case "endpoints":
		if obj.meta.Labels[labelEPManagedBy] == "endpoint-controller" || apiserverOwned(obj) {
			return skipEndpoints
		}
	case "endpointslices.discovery.k8s.io":
		switch obj.meta.Labels[labelESManagedBy] {
		case "endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io":
			return skipEndpoints
		}
		if apiserverOwned(obj) {
			return skipEndpoints
		}
	}
	return ""
}

// apiserverOwned: the API server maintains default/kubernetes itself.
func apiserverOwned(obj *object) bool {
	return obj.meta.Namespace == "default" && obj.meta.Name == "kubernetes"
}
