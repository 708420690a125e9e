package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/hooks"
	"github.com/cairn-backup/cairn/internal/location"
)

// Options configure the reconcilers.
type Options struct {
	// Namespace is where the controller's custom resources and Secrets
	// are (the controller watches only it).
	Namespace string
	// Cluster connects to the cluster that is backed up and restored to
	// (normally the manager's own).
	Cluster *rest.Config
	// Retention is the guardrails and the default ttl.
	Retention Retention
	// SyncInterval is how often a BackupLocation is checked and synced
	// with the cluster (default 1m).
	SyncInterval time.Duration
	// Clock is the time (default: the real one).
	Clock Clock
	// VolumeTimeout bounds the wait for the node agents' pod volume work
	// of one Backup or Restore (default 4h).
	VolumeTimeout time.Duration
	// MaxOperations bounds the Backups and Restores run at once (default
	// 2); the others wait, New, for a free slot.
	MaxOperations int
	// Recheck is how often a run waiting for the node agents reads its
	// work items when no change of them woke it (default 30s; a change
	// wakes it at once).
	Recheck time.Duration
	// LockWait bounds how long a Backup or Restore waits for the
	// repository lock another process holds (a prune's exclusive lock)
	// before it fails (default 1h).
	LockWait time.Duration
	// RestoreWaitImage is the image of the init container that holds a
	// restored pod until its volumes are back: it needs /bin/sh, sleep,
	// date and rm (default busybox:1.36).
	RestoreWaitImage string
	// RequesterKey verifies the requester of a NamespaceRestore
	// (internal/requester); the admission webhook signs with the same
	// key. Without it no NamespaceRestore is run.
	RequesterKey []byte
	// HookExecutor makes what runs the backup hooks' commands in pods
	// (default hooks.NewAPIExecutor, through the pods' exec subresource).
	HookExecutor func(*rest.Config) (hooks.Executor, error)
}

func (o *Options) fill() {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Minute
	}
	if o.VolumeTimeout <= 0 {
		o.VolumeTimeout = 4 * time.Hour
	}
	if o.MaxOperations <= 0 {
		o.MaxOperations = 2
	}
	if o.LockWait <= 0 {
		o.LockWait = time.Hour
	}
	if o.Recheck <= 0 {
		o.Recheck = 30 * time.Second
	}
	if o.RestoreWaitImage == "" {
		o.RestoreWaitImage = "busybox:1.36"
	}
	if o.HookExecutor == nil {
		o.HookExecutor = func(c *rest.Config) (hooks.Executor, error) { return hooks.NewAPIExecutor(c) }
	}
}

// Reconcilers are the five reconcilers, sharing a client, the
// repositories and the operations. Tests call their Reconcile methods
// directly, and Idle to wait for the runs those started.
type Reconcilers struct {
	Backup    *BackupReconciler
	Schedule  *ScheduleReconciler
	Restore   *RestoreReconciler
	Location  *LocationReconciler
	Drill     *DrillReconciler
	View      *ViewReconciler
	NSRestore *NamespaceRestoreReconciler
	ops       *operations
}

// Idle waits until no Backup or Restore runs, and no check.
func (rs *Reconcilers) Idle() {
	rs.ops.idle()
	rs.Location.maintenance.idle()
}

// Idle waits until no Backup or Restore runs (the reconcilers share their
// operations).
func (b *base) Idle() { b.ops.idle() }

// Idle waits until no Backup or Restore runs, and no check.
func (r *LocationReconciler) Idle() {
	r.ops.idle()
	r.maintenance.idle()
}

// New returns the reconcilers: c reads (cached) and writes the custom
// resources, api reads without cache (Secrets, and the Backups the bucket
// sync compares with the repository).
func New(c client.Client, api client.Reader, o Options) *Reconcilers {
	o.fill()
	repos := &Repos{Secrets: api}
	ops := newOperations(o.MaxOperations)
	base := base{c: c, api: api, o: o, repos: repos, ops: ops}
	return &Reconcilers{
		Backup:    &BackupReconciler{base: base, ended: make(chan event.GenericEvent, 64)},
		Schedule:  &ScheduleReconciler{base: base},
		Restore:   &RestoreReconciler{base: base, ended: make(chan event.GenericEvent, 64)},
		Location:  &LocationReconciler{base: base, maintenance: newOperations(1), ended: make(chan event.GenericEvent, 64)},
		Drill:     &DrillReconciler{base: base, ended: make(chan event.GenericEvent, 64)},
		View:      &ViewReconciler{base: base},
		NSRestore: &NamespaceRestoreReconciler{base: base},
		ops:       ops,
	}
}

// Setup registers the reconcilers with mgr.
func Setup(mgr ctrl.Manager, o Options) (*Reconcilers, error) {
	rs := New(mgr.GetClient(), mgr.GetAPIReader(), o)
	if err := mgr.Add(rs.ops); err != nil {
		return nil, err
	}
	if err := mgr.Add(&coverage{base: rs.Backup.base}); err != nil {
		return nil, err
	}
	for name, setup := range map[string]func(ctrl.Manager) error{
		"backup": rs.Backup.setup, "schedule": rs.Schedule.setup, "restore": rs.Restore.setup, "location": rs.Location.setup, "restoretest": rs.Drill.setup,
		"namespacebackup": rs.View.setup, "namespacerestore": rs.NSRestore.setup,
	} {
		if err := setup(mgr); err != nil {
			return nil, fmt.Errorf("controller %s: %w", name, err)
		}
	}
	return rs, nil
}

// base is what every reconciler has.
type base struct {
	c     client.Client
	api   client.Reader
	o     Options
	repos *Repos
	ops   *operations
}

func (b *base) now() time.Time { return b.o.Clock.Now() }

func (b *base) metaNow() *metav1.Time {
	t := metav1.NewTime(b.now().UTC().Truncate(time.Second))
	return &t
}

// location returns the BackupLocation called name, or the default one when
// name is empty (location.Default: several marked default is an error).
func (b *base) location(ctx context.Context, name string) (*cairnv1.BackupLocation, error) {
	if name != "" {
		var loc cairnv1.BackupLocation
		if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.o.Namespace, Name: name}, &loc); err != nil {
			return nil, fmt.Errorf("BackupLocation %q: %w", name, err)
		}
		return &loc, nil
	}
	var list cairnv1.BackupLocationList
	if err := b.c.List(ctx, &list, client.InNamespace(b.o.Namespace)); err != nil {
		return nil, err
	}
	loc, err := location.Default(list.Items)
	switch {
	case errors.Is(err, location.ErrNoDefault):
		return nil, fmt.Errorf("no BackupLocation in namespace %s is marked default: set spec.storageLocation or mark one default (spec.default: true)", b.o.Namespace)
	case err != nil:
		return nil, fmt.Errorf("namespace %s: %w: set spec.storageLocation, or spec.default on one of them only", b.o.Namespace, err)
	}
	return loc, nil
}

// setReady sets the Ready condition.
func setReady(conds *[]metav1.Condition, gen int64, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: cairnv1.ConditionReady, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// truncate keeps a message within what a condition and a person can take.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
