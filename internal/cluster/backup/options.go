package backup

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// Defaults of Options.
var (
	// DefaultPlatformNamespaces are the platform's own namespaces, left out
	// of the default scope ("all user namespaces").
	DefaultPlatformNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "cairn-system"}
	// DefaultOptOutLabel marks objects and namespaces not to back up.
	DefaultOptOutLabel = "compliantkubernetes.io/nobackup"
)

// VeleroExcludeLabel with value "true" also opts an object out.
const VeleroExcludeLabel = "velero.io/exclude-from-backup"

// Values of Options.IncludeClusterResources.
const (
	ClusterAuto  = "auto"  // only what the selected namespaced objects need, all of them when every namespace is selected
	ClusterTrue  = "true"  // every cluster-scoped type
	ClusterFalse = "false" // none but the selected namespaces themselves
)

// Options say what to back up.
type Options struct {
	Name string // the backup's name (required)

	// IncludeNamespaces are globs; empty means every namespace but the
	// platform's. Platform namespaces are backed up only when an include
	// pattern matches them; "*" alone selects every namespace.
	IncludeNamespaces []string
	ExcludeNamespaces []string // globs
	// IncludeResources and ExcludeResources name resource types:
	// "configmaps" (any group), "deployments.apps", or "*".
	IncludeResources []string
	ExcludeResources []string
	// Selector is a label selector applied to every LIST (e.g.
	// "velero=backup" for opt-in backups). Cluster-scoped objects added
	// because selected objects need them are not filtered by it.
	Selector string
	// IncludeClusterResources is auto (the default), true or false.
	IncludeClusterResources string
	// PlatformNamespaces: nil means DefaultPlatformNamespaces.
	PlatformNamespaces []string
	// OptOutLabel: "" means DefaultOptOutLabel. Objects and namespaces
	// with this label key (any value) are skipped.
	OptOutLabel string
	TTL         time.Duration // the snapshot expires this long after it starts; 0 = never

	Workers  int              // LIST requests in flight (default 8)
	PageSize int64            // objects per LIST page (default 500)
	QPS      float32          // client rate limit when the config has none (default 200, burst 2×)
	Now      func() time.Time // clock (default time.Now)
	Progress *Progress        // counters updated as work proceeds (may be nil)
	Log      *slog.Logger     // may be nil
}

// Progress counts work done; safe to read concurrently.
type Progress struct {
	Lists   atomic.Int64 // LIST pages fetched
	Objects atomic.Int64 // objects stored
	Bytes   atomic.Int64 // bytes of stored objects
	Skipped atomic.Int64 // objects left out (opt-out, rebuilt by the cluster)
	Errors  atomic.Int64 // resource types/namespaces that could not be listed
}

// ErrInvalid marks options that cannot work (bad glob, selector, name).
var ErrInvalid = errors.New("invalid backup options")

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// ValidName reports whether name can name a backup: a Kubernetes object
// name (lower-case letters, digits, '-' and '.', at most 253), as
// Velero's backups are named too.
func ValidName(name string) bool { return len(name) <= 253 && nameRE.MatchString(name) }

// Validate checks the options without contacting anything.
func (o *Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !ValidName(o.Name) {
		return bad("backup name %q: use lower-case letters, digits, '-' and '.' (at most 253)", o.Name)
	}
	for _, list := range [][]string{o.IncludeNamespaces, o.ExcludeNamespaces} {
		for _, g := range list {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return bad("namespace pattern %q is not a valid glob", g)
			}
		}
	}
	for _, list := range [][]string{o.IncludeResources, o.ExcludeResources} {
		for _, r := range list {
			if r == "" {
				return bad("empty resource name")
			}
		}
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		return bad("selector %q: %v", o.Selector, err)
	}
	switch o.IncludeClusterResources {
	case "", ClusterAuto, ClusterTrue, ClusterFalse:
	default:
		return bad("include-cluster-resources %q: use auto, true or false", o.IncludeClusterResources)
	}
	if o.TTL < 0 {
		return bad("negative TTL %s", o.TTL)
	}
	return nil
}

func (o *Options) fill() {
	if o.IncludeClusterResources == "" {
		o.IncludeClusterResources = ClusterAuto
	}
	if o.PlatformNamespaces == nil {
		o.PlatformNamespaces = DefaultPlatformNamespaces
	}
	if o.OptOutLabel == "" {
		o.OptOutLabel = DefaultOptOutLabel
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.QPS <= 0 {
		o.QPS = 200
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// selection records the options in the manifest.
func (o *Options) selection() layout.Selection {
	return layout.Selection{
		IncludeNamespaces: o.IncludeNamespaces, ExcludeNamespaces: o.ExcludeNamespaces,
		IncludeResources: o.IncludeResources, ExcludeResources: o.ExcludeResources,
		Selector: o.Selector, IncludeClusterResources: o.IncludeClusterResources,
		PlatformNamespaces: o.PlatformNamespaces, OptOutLabel: o.OptOutLabel,
	}
}
