package restore

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// Errors of Run.
var (
	// ErrPartial: the restore finished but some objects failed
	// (Report.Phase PartiallyFailed; the failed items say why).
	ErrPartial = errors.New("restore partially failed")
	// ErrFailed: nothing could be restored, or the restore could not run.
	ErrFailed = errors.New("restore failed")
	// ErrOptions: the options are invalid (bad input).
	ErrOptions = errors.New("invalid restore options")
	// ErrNotCluster: the snapshot is not a cluster backup.
	ErrNotCluster = errors.New("not a cluster backup")
)

// Action is what happened to one object.
type Action string

// Actions.
const (
	Created     Action = "created"
	Updated     Action = "updated"
	Skipped     Action = "skipped"
	Failed      Action = "failed"
	WouldCreate Action = "would-create" // dry run
	WouldUpdate Action = "would-update" // dry run with PolicyUpdate
)

// Reasons of skipped objects that callers may test for.
const (
	ReasonExistsSame    = "exists: same"
	ReasonExistsDiffers = "exists: differs"
	ReasonClusterMade   = "created by the cluster"
	ReasonEarlierRun    = "created by an earlier run of this restore"
)

// Item is the outcome for one object.
type Item struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"` // where it was restored to
	Name       string   `json:"name"`
	Action     Action   `json:"action"`
	Reason     string   `json:"reason,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// Totals count items by action.
type Totals struct {
	Created     int `json:"created"`
	Updated     int `json:"updated"`
	Skipped     int `json:"skipped"`
	Failed      int `json:"failed"`
	WouldCreate int `json:"would_create,omitempty"`
	WouldUpdate int `json:"would_update,omitempty"`
}

// Report says what a restore did.
type Report struct {
	Name     string    `json:"name"`
	Backup   string    `json:"backup"`
	Snapshot string    `json:"snapshot"`
	DryRun   bool      `json:"dry_run,omitempty"`
	Phase    string    `json:"phase"` // layout.PhaseCompleted, PhasePartiallyFailed or PhaseFailed
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Totals   Totals    `json:"totals"`
	Items    []Item    `json:"items"`
	// Warnings are about the restore as a whole; per-object warnings are
	// on the items.
	Warnings []string `json:"warnings,omitempty"`
	// Error is the fatal error that stopped the restore, if any.
	Error string `json:"error,omitempty"`

	mu sync.Mutex
}

func (r *Report) add(it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Items = append(r.Items, it)
	switch it.Action {
	case Created:
		r.Totals.Created++
	case Updated:
		r.Totals.Updated++
	case Skipped:
		r.Totals.Skipped++
	case Failed:
		r.Totals.Failed++
	case WouldCreate:
		r.Totals.WouldCreate++
	case WouldUpdate:
		r.Totals.WouldUpdate++
	}
}

func (r *Report) warn(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Warnings = append(r.Warnings, msg)
}

// addWarning appends a warning to the item of the object, if reported.
func (r *Report) addWarning(kind, ns, name, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.Items) - 1; i >= 0; i-- {
		it := &r.Items[i]
		if it.Kind == kind && it.Namespace == ns && it.Name == name {
			it.Warnings = append(it.Warnings, msg)
			return
		}
	}
}

// finish sets the phase and sorts the items; fatal is the error that
// stopped the restore, or nil.
func (r *Report) finish(end time.Time, fatal error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.End = end
	sort.SliceStable(r.Items, func(i, j int) bool {
		a, b := r.Items[i], r.Items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	t := r.Totals
	restored := t.Created + t.Updated + t.WouldCreate + t.WouldUpdate
	switch {
	case fatal != nil:
		r.Phase = layout.PhaseFailed
		r.Error = fatal.Error()
	case t.Failed > 0 && restored == 0:
		r.Phase = layout.PhaseFailed
	case t.Failed > 0:
		r.Phase = layout.PhasePartiallyFailed
	default:
		r.Phase = layout.PhaseCompleted
	}
}
