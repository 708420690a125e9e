package layout

import (
	"fmt"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// ManifestPath is the manifest's path in the snapshot tree.
const ManifestPath = "manifest.json"

// Snapshot labels that mark a cluster backup.
const (
	LabelKind     = snapshot.LabelKind // "cluster"
	KindCluster   = "cluster"
	LabelBackup   = "cairn.dev/backup"   // the backup's name
	LabelSchedule = "cairn.dev/schedule" // the schedule that made it, if any
	// LabelReplaces marks a backup written again without erased data
	// (cairn erase apply): its value lists the IDs of the snapshots it
	// replaces, comma-separated, the one it was written from first (then
	// the ones that one replaced: a backup erased twice names both).
	LabelReplaces = "cairn.dev/replaces"
	// LabelImportedFrom marks a backup imported from another tool; its
	// value names the tool ("velero"). LabelSourceUID is the UID of the
	// backup object it was imported from, so that an import run again
	// recognises what it imported.
	LabelImportedFrom = "cairn.dev/imported-from"
	LabelSourceUID    = "cairn.dev/source-uid"
)

// CoreGroup names the legacy API group in paths.
const CoreGroup = "core"

// ObjectPath returns the tree path of an object. namespace is empty for
// cluster-scoped objects.
func ObjectPath(group, resource, namespace, name string) string {
	if group == "" {
		group = CoreGroup
	}
	if namespace == "" {
		return "resources/" + group + "/" + resource + "/cluster/" + name + ".json"
	}
	return "resources/" + group + "/" + resource + "/namespaces/" + namespace + "/" + name + ".json"
}

// ObjectRef is what ParsePath recovers from a path.
type ObjectRef struct {
	Group     string // "" for core
	Resource  string
	Namespace string // "" for cluster-scoped
	Name      string
}

// GroupResource names the object's resource type (Resource.GroupResource).
func (o ObjectRef) GroupResource() string {
	return Resource{Group: o.Group, Resource: o.Resource}.GroupResource()
}

// ParsePath is the inverse of ObjectPath.
func ParsePath(p string) (ObjectRef, error) {
	parts := strings.Split(p, "/")
	bad := fmt.Errorf("not an object path: %q", p)
	if len(parts) < 5 || parts[0] != "resources" || !strings.HasSuffix(parts[len(parts)-1], ".json") {
		return ObjectRef{}, bad
	}
	ref := ObjectRef{Group: parts[1], Resource: parts[2], Name: strings.TrimSuffix(parts[len(parts)-1], ".json")}
	if ref.Group == CoreGroup {
		ref.Group = ""
	}
	switch {
	case len(parts) == 5 && parts[3] == "cluster":
	case len(parts) == 6 && parts[3] == "namespaces":
		ref.Namespace = parts[4]
	default:
		return ObjectRef{}, bad
	}
	return ref, nil
}

// Phases of a backup, as Velero names them.
const (
	PhaseCompleted       = "Completed"
	PhasePartiallyFailed = "PartiallyFailed"
	PhaseFailed          = "Failed"
)

// Manifest records what a cluster backup did.
type Manifest struct {
	Name           string    `json:"name"`
	Phase          string    `json:"phase"`
	Cluster        string    `json:"cluster"`         // API server URL
	ClusterVersion string    `json:"cluster_version"` // e.g. v1.34.4
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Selection      Selection `json:"selection"`
	// Resources lists every resource type backed up, with its served
	// version, kind and scope, so restore can map paths back to GVKs.
	Resources []Resource `json:"resources"`
	Items     int        `json:"items"`
	// CountsByNamespace counts objects per namespace ("" = cluster-scoped).
	CountsByNamespace map[string]int `json:"counts_by_namespace"`
	Warnings          []string       `json:"warnings,omitempty"`
	Errors            []string       `json:"errors,omitempty"` // each says what failed and why
	TTL               string         `json:"ttl,omitempty"`
	Expires           *time.Time     `json:"expires,omitempty"`
	// Labels are the backup's own labels (an imported backup keeps those
	// of the backup it was imported from).
	Labels map[string]string `json:"labels,omitempty"`
	// Source says where an imported backup came from; nil for a backup
	// cairn made of a cluster.
	Source *Source `json:"source,omitempty"`
}

// Source is the origin of an imported backup.
type Source struct {
	Tool          string    `json:"tool"`     // "velero"
	Location      string    `json:"location"` // the bucket it was read from, e.g. s3://bucket/prefix
	Name          string    `json:"name"`     // the backup's name there
	UID           string    `json:"uid,omitempty"`
	Version       string    `json:"version,omitempty"`        // the tool's version that made it
	FormatVersion string    `json:"format_version,omitempty"` // its backup format
	Phase         string    `json:"phase,omitempty"`          // its phase there, as the tool named it
	FailureReason string    `json:"failure_reason,omitempty"`
	Imported      time.Time `json:"imported"` // when cairn imported it
}

// Resource is one backed-up resource type.
type Resource struct {
	Group      string `json:"group"` // "" for core
	Version    string `json:"version"`
	Resource   string `json:"resource"`
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced"`
	Count      int    `json:"count"`
}

// GroupResource names the resource type as Kubernetes does in messages
// and as --include-resources matches it: "deployments.apps", and the bare
// resource ("configmaps") for the core group. The layout cannot tell an
// API group named "core" from the core group (ObjectPath writes that one
// as "core"), so both are the core group here.
func (r Resource) GroupResource() string {
	if r.Group == "" || r.Group == CoreGroup {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Selection is what the backup was asked to include.
type Selection struct {
	IncludeNamespaces       []string `json:"include_namespaces,omitempty"`
	ExcludeNamespaces       []string `json:"exclude_namespaces,omitempty"`
	IncludeResources        []string `json:"include_resources,omitempty"`
	ExcludeResources        []string `json:"exclude_resources,omitempty"`
	Selector                string   `json:"selector,omitempty"`
	IncludeClusterResources string   `json:"include_cluster_resources,omitempty"` // auto|true|false
	PlatformNamespaces      []string `json:"platform_namespaces,omitempty"`
	OptOutLabel             string   `json:"opt_out_label,omitempty"`
}

// Replaces returns the snapshot IDs a backup's labels say it replaces.
func Replaces(labels map[string]string) []string {
	v := labels[LabelReplaces]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
