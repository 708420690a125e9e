package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=restores,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=restores/status,verbs=get;update;patch

// maxFailures bounds the failed objects listed in a Restore's status.
const maxFailures = 20

// RestoreReconciler runs Restores.
type RestoreReconciler struct {
	base
	mu  sync.Mutex
	ran map[string]bool // UIDs of Restores this process started
}

func (r *RestoreReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("restore").
		For(&cairnv1.Restore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile runs a new Restore to its end.
func (r *RestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rs cairnv1.Restore
	if err := r.c.Get(ctx, req.NamespacedName, &rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch rs.Status.Phase {
	case "", cairnv1.PhaseNew:
		if wait, err := r.awaitSync(ctx, &rs); err != nil || wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, err
		}
		return ctrl.Result{}, r.run(ctx, logr.FromContextOrDiscard(ctx), &rs)
	case cairnv1.PhaseInProgress:
		r.mu.Lock()
		ran := r.ran[string(rs.UID)]
		r.mu.Unlock()
		if !ran {
			// A decision from a read: if the Restore changed since, read again.
			before := rs.DeepCopy()
			r.markFailed(&rs, cairnv1.ReasonInterrupted,
				"the controller stopped while the restore was running; objects restored so far stay, create a new restore to finish (existing objects are skipped)")
			return ctrl.Result{}, statuspatch.Transition(ctx, r.c, &rs, before)
		}
	}
	return ctrl.Result{}, nil
}

// AnnotationWaitForSync on a Restore (the chart's restore on install sets
// it) makes the controller wait, up to maxSyncWait after the Restore was
// created, until a BackupLocation has synced the bucket's backups into
// the cluster, so that a fresh cluster finds the backup to restore.
const AnnotationWaitForSync = "cairn.dev/wait-for-sync"

const maxSyncWait = 10 * time.Minute

// awaitSync returns how long to wait before running rs, or 0.
func (r *RestoreReconciler) awaitSync(ctx context.Context, rs *cairnv1.Restore) (time.Duration, error) {
	if rs.Annotations[AnnotationWaitForSync] != "true" || r.now().Sub(rs.CreationTimestamp.Time) > maxSyncWait {
		return 0, nil
	}
	var locs cairnv1.BackupLocationList
	if err := r.c.List(ctx, &locs, client.InNamespace(rs.Namespace)); err != nil {
		return 0, err
	}
	for _, l := range locs.Items {
		if t := l.Status.LastSyncTime; t != nil && !t.Before(&rs.CreationTimestamp) {
			return 0, nil
		}
	}
	return 5 * time.Second, nil
}

// fail ends a Restore in phase Failed with a reason.
func (r *RestoreReconciler) fail(ctx context.Context, rs *cairnv1.Restore, reason, msg string) error {
	before := rs.DeepCopy()
	r.markFailed(rs, reason, msg)
	return statuspatch.Outcome(ctx, r.c, rs, before)
}

// markFailed sets rs's status to Failed with a reason (not written).
func (r *RestoreReconciler) markFailed(rs *cairnv1.Restore, reason, msg string) {
	rs.Status.Phase = cairnv1.PhaseFailed
	rs.Status.FailureReason = msg
	if rs.Status.CompletionTimestamp == nil {
		rs.Status.CompletionTimestamp = r.metaNow()
	}
	setReady(&rs.Status.Conditions, rs.Generation, false, reason, truncate(msg, 2000))
}

// source returns the Backup a Restore names, or the newest Completed one
// of its schedule.
func (r *RestoreReconciler) source(ctx context.Context, rs *cairnv1.Restore) (*cairnv1.Backup, error) {
	if rs.Spec.BackupName != "" {
		var b cairnv1.Backup
		if err := r.c.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.BackupName}, &b); err != nil {
			return nil, fmt.Errorf("backup %q: %w (see `cairn ctl backup get`)", rs.Spec.BackupName, err)
		}
		if b.Status.Phase != cairnv1.PhaseCompleted && b.Status.Phase != cairnv1.PhasePartiallyFailed {
			return nil, fmt.Errorf("backup %q is %s: only Completed or PartiallyFailed backups can be restored", b.Name, phaseOrNew(b.Status.Phase))
		}
		return &b, nil
	}
	var list cairnv1.BackupList
	if err := r.c.List(ctx, &list, client.InNamespace(rs.Namespace), client.MatchingLabels{cairnv1.LabelSchedule: rs.Spec.ScheduleName}); err != nil {
		return nil, err
	}
	newest := NewestCompleted(list.Items)
	if newest == nil {
		return nil, fmt.Errorf("schedule %q has no Completed backup (see `cairn ctl backup get --schedule %s`)", rs.Spec.ScheduleName, rs.Spec.ScheduleName)
	}
	return newest, nil
}

// NewestCompleted returns the Completed backup that started last, or nil.
func NewestCompleted(bs []cairnv1.Backup) *cairnv1.Backup {
	var newest *cairnv1.Backup
	for i := range bs {
		b := &bs[i]
		if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.StartTimestamp == nil {
			continue
		}
		if newest == nil || b.Status.StartTimestamp.After(newest.Status.StartTimestamp.Time) ||
			(b.Status.StartTimestamp.Equal(newest.Status.StartTimestamp) && b.Name > newest.Name) {
			newest = b
		}
	}
	return newest
}

func phaseOrNew(p cairnv1.Phase) cairnv1.Phase {
	if p == "" {
		return cairnv1.PhaseNew
	}
	return p
}

func (r *RestoreReconciler) run(ctx context.Context, log logr.Logger, rs *cairnv1.Restore) error {
	schedule := rs.Spec.ScheduleName
	defer func() { observeRestore(rs, schedule) }()
	b, err := r.source(ctx, rs)
	if b != nil && b.Labels[cairnv1.LabelSchedule] != "" {
		schedule = b.Labels[cairnv1.LabelSchedule]
	}
	if err != nil {
		return r.fail(ctx, rs, cairnv1.ReasonBackupNotFound, err.Error())
	}
	loc, err := r.location(ctx, b.Status.StorageLocation)
	if err != nil {
		return r.fail(ctx, rs, cairnv1.ReasonLocation, err.Error())
	}
	opts := clusterrestore.Options{
		IncludeNamespaces: rs.Spec.IncludedNamespaces, ExcludeNamespaces: rs.Spec.ExcludedNamespaces,
		IncludeResources: rs.Spec.IncludedResources, ExcludeResources: rs.Spec.ExcludedResources,
		Selector: rs.Spec.LabelSelector, IncludeClusterResources: rs.Spec.IncludeClusterResources,
		NamespaceMapping: rs.Spec.NamespaceMapping, ExistingResourcePolicy: rs.Spec.ExistingResourcePolicy,
		PreserveNodePorts: rs.Spec.PreserveNodePorts,
		Now:               r.now, Log: slog.New(logr.ToSlogHandler(log.WithValues("restore", rs.Name))),
	}
	if len(validation.IsValidLabelValue(rs.Name)) == 0 {
		opts.Name = rs.Name
	}
	before := rs.DeepCopy()
	rs.Status.Phase = cairnv1.PhaseInProgress
	rs.Status.BackupName = b.Name
	rs.Status.SnapshotID = b.Status.SnapshotID
	rs.Status.StartTimestamp = r.metaNow()
	setReady(&rs.Status.Conditions, rs.Generation, false, cairnv1.ReasonInProgress, "restoring backup "+b.Name)
	// New → InProgress is decided from a read: a Conflict starts again
	// from New, before anything was restored.
	if err := statuspatch.Transition(ctx, r.c, rs, before); err != nil {
		return err
	}
	r.mu.Lock()
	r.ran[string(rs.UID)] = true
	r.mu.Unlock()
	before = rs.DeepCopy() // from here on, Outcomes of the run
	log.Info("restore started", "restore", rs.Name, "backup", b.Name)

	var rep *clusterrestore.Report
	var vr *volumeRestore
	err = r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		run := func(ctx context.Context) error {
			ref := b.Status.SnapshotID
			if ref == "" {
				ref = b.Name
			}
			sn, err := backup.Find(ctx, rp, ref)
			if err != nil {
				return fmt.Errorf("backup %s in %s: %w", b.Name, loc.Name, err)
			}
			vols, err := volumeSnapshots(ctx, rp, b.Name)
			if err != nil {
				return err
			}
			vr = newVolumeRestore(rs, loc.Name, r.o.RestoreWaitImage, r.now().Add(r.o.VolumeTimeout), vols)
			opts.Transform = vr.transform
			if opts.Resurrected, err = erase.Resurrection(ctx, rp, sn.Time); err != nil {
				return err
			}
			rep, err = clusterrestore.Run(ctx, rp, sn, r.o.Cluster, opts)
			return err
		}
		if loc.Spec.AccessMode == cairnv1.ReadOnly {
			return run(ctx)
		}
		return rp.WithLock(ctx, repo.Shared, "restore "+rs.Name, run)
	})
	var volumes string // why pod volumes were missed or failed
	if rep != nil && (err == nil || errors.Is(err, clusterrestore.ErrPartial)) {
		rs.Status.Volumes, volumes = r.restoreVolumes(ctx, log, vr, rep)
	}
	rs.Status.CompletionTimestamp = r.metaNow()
	if rep != nil {
		t := rep.Totals
		rs.Status.Created, rs.Status.Updated, rs.Status.Skipped, rs.Status.Failed = t.Created+t.WouldCreate, t.Updated+t.WouldUpdate, t.Skipped, t.Failed
		rs.Status.Warnings = len(rep.Warnings)
		rs.Status.Failures = nil
		for _, it := range rep.Items {
			if it.Action == clusterrestore.Failed && len(rs.Status.Failures) < maxFailures {
				rs.Status.Failures = append(rs.Status.Failures, fmt.Sprintf("%s %s: %s", it.Kind, qualified(it.Namespace, it.Name), it.Reason))
			}
		}
	}
	switch {
	case err == nil && volumes != "":
		rs.Status.Phase = cairnv1.PhasePartiallyFailed
		rs.Status.FailureReason = volumes
		setReady(&rs.Status.Conditions, rs.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(volumes, 2000))
	case err == nil:
		rs.Status.Phase = cairnv1.PhaseCompleted
		setReady(&rs.Status.Conditions, rs.Generation, true, cairnv1.ReasonCompleted,
			fmt.Sprintf("restored backup %s: %d created, %d skipped", b.Name, rs.Status.Created, rs.Status.Skipped))
	case errors.Is(err, clusterrestore.ErrPartial):
		rs.Status.Phase = cairnv1.PhasePartiallyFailed
		rs.Status.FailureReason = fmt.Sprintf("%d objects could not be restored: %s", rs.Status.Failed, strings.Join(first(rs.Status.Failures, 3), "; "))
		if volumes != "" {
			rs.Status.FailureReason += "; " + volumes
		}
		setReady(&rs.Status.Conditions, rs.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(rs.Status.FailureReason, 2000))
	default:
		log.Error(err, "restore failed", "restore", rs.Name)
		r.markFailed(rs, cairnv1.ReasonFailed, err.Error())
	}
	log.Info("restore finished", "restore", rs.Name, "phase", rs.Status.Phase, "created", rs.Status.Created, "failed", rs.Status.Failed)
	return statuspatch.Outcome(ctx, r.c, rs, before)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
