package restore

import (
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Policies for objects that exist in the cluster.
const (
	// PolicyNone never changes an existing object (a restore never overwrites): it is
	// reported skipped, "exists: same" or "exists: differs".
	PolicyNone = "none"
	// PolicyUpdate patches an existing object that differs from the backup
	// with the backup's fields (JSON merge patch); reported updated.
	PolicyUpdate = "update"
)

// Values of Options.IncludeClusterResources.
const (
	ClusterAuto  = "auto"  // all cluster-scoped objects unless a namespace filter is set
	ClusterTrue  = "true"  // all cluster-scoped objects that pass the other filters
	ClusterFalse = "false" // none but the namespaces and what selected objects need
)

// Defaults.
const (
	DefaultWorkers            = 16
	DefaultQPS                = 1000
	DefaultBurst              = 2000
	DefaultEstablishTimeout   = time.Minute
	DefaultTerminatingTimeout = 2 * time.Minute
)

// Options say what to restore and how.
type Options struct {
	// Name of this restore, recorded in the label cairn.dev/restore on
	// every restored object. Default: "<backup>-<UTC time>".
	Name string
	// Resume says this is another run of restore Name, whose earlier run
	// stopped midway: an object that exists with Name in its
	// cairn.dev/restore label was created by that run, and is reported
	// created (ReasonEarlierRun), not skipped.
	Resume bool

	// NamespaceMapping moves objects of namespace old (key) to new (value).
	NamespaceMapping map[string]string

	// Selection, applied to the backup's content. Namespace patterns are
	// globs (path.Match). Resources are plurals ("configmaps"), with a
	// group ("deployments.apps") or kinds ("ConfigMap"); "*" matches all.
	IncludeNamespaces []string
	ExcludeNamespaces []string
	IncludeResources  []string
	ExcludeResources  []string
	// Selector is a label selector ("app=web,tier!=db"); empty selects all.
	Selector string
	// IncludeClusterResources is auto (default), true or false.
	IncludeClusterResources string

	// NamespacedOnly restores namespaced objects only: no cluster-scoped
	// object is restored, whatever the selection says or the namespaced
	// objects need (a warning names those left out), no namespace is
	// created (the target namespaces must exist), and a claim loses its
	// spec.volumeName (its volume is not restored: it binds to a new one).
	// A namespace owner's restore (the controller's NamespaceRestore)
	// runs so.
	NamespacedOnly bool

	// ExistingResourcePolicy is PolicyNone (default) or PolicyUpdate.
	ExistingResourcePolicy string
	// PreserveNodePorts keeps the node ports of NodePort and LoadBalancer
	// services (by default they are dropped: they may collide).
	PreserveNodePorts bool
	// DryRun writes nothing: creates are sent with dryRun=All so that the
	// API server validates them, and the report says would-create.
	DryRun bool

	// Workers bounds the objects created at once within a group
	// (default 16): that bound is what keeps the load on the API server
	// moderate (and API Priority and Fairness protects it). QPS and Burst
	// set the client's token bucket on top (default 1000/2000, high enough
	// not to be the bound; a negative QPS turns it off).
	Workers int
	QPS     float32
	Burst   int
	// EstablishTimeout bounds the wait for a restored CRD to be served;
	// TerminatingTimeout the wait for a namespace being deleted to go
	// before it is created again.
	EstablishTimeout   time.Duration
	TerminatingTimeout time.Duration

	// Transform, when set, may change each object before it is created
	// (after it was cleaned and moved to its target namespace): the
	// controller adds the pod volume restore-wait init container there.
	// It gets the object's group, kind and namespace in the backup; an
	// error fails that object.
	Transform func(group, kind, backupNamespace string, obj map[string]any) error

	// Resurrected, when set, says why restoring an object brings back
	// data erased since the backup ("" when it does not): the object's
	// report item gets it as a warning (internal/erase.Resurrection).
	Resurrected func(group, resource, kind, backupNamespace, name string, labels map[string]string) string

	// Now is the clock (default time.Now). Log receives progress and
	// warnings (default: discarded). Progress, when set, is updated as
	// objects are done.
	Now      func() time.Time
	Log      *slog.Logger
	Progress *Progress
}

// Progress counts objects as they are done (atomics).
type Progress struct {
	Total atomic.Int64 // objects selected; set before the first is done
	Done  atomic.Int64
}

func (o *Options) fill() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.QPS == 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.EstablishTimeout <= 0 {
		o.EstablishTimeout = DefaultEstablishTimeout
	}
	if o.TerminatingTimeout <= 0 {
		o.TerminatingTimeout = DefaultTerminatingTimeout
	}
	switch o.ExistingResourcePolicy {
	case "":
		o.ExistingResourcePolicy = PolicyNone
	case PolicyNone, PolicyUpdate:
	default:
		return fmt.Errorf("%w: existing resource policy %q: use %s or %s", ErrOptions, o.ExistingResourcePolicy, PolicyNone, PolicyUpdate)
	}
	switch o.IncludeClusterResources {
	case "":
		o.IncludeClusterResources = ClusterAuto
	case ClusterAuto, ClusterTrue, ClusterFalse:
	default:
		return fmt.Errorf("%w: include cluster resources %q: use auto, true or false", ErrOptions, o.IncludeClusterResources)
	}
	for _, p := range append(append([]string(nil), o.IncludeNamespaces...), o.ExcludeNamespaces...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: namespace pattern %q: %v", ErrOptions, p, err)
		}
	}
	if o.Name != "" {
		if errs := validation.IsValidLabelValue(o.Name); len(errs) > 0 {
			return fmt.Errorf("%w: restore name %q: %s", ErrOptions, o.Name, strings.Join(errs, "; "))
		}
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		return fmt.Errorf("%w: selector %q: %v", ErrOptions, o.Selector, err)
	}
	for old, nu := range o.NamespaceMapping {
		if old == "" || nu == "" {
			return fmt.Errorf("%w: namespace mapping %q=%q: both names are needed", ErrOptions, old, nu)
		}
	}
	return nil
}

// targetNamespace returns where objects of backup namespace ns go.
func (o *Options) targetNamespace(ns string) string {
	if nu, ok := o.NamespaceMapping[ns]; ok {
		return nu
	}
	return ns
}
