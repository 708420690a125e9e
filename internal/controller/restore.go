package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

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

// RestoreReconciler runs Restores. A Restore's run is an operation
// (ops.go): New → InProgress (the objects are created) →
// WaitingForVolumes (the node agents restore the pod volumes) →
// Completed, PartiallyFailed or Failed. A run that a killed controller
// left InProgress or WaitingForVolumes is run again by the next one
// (status.attempts, at most MaxRestoreAttempts runs): a restore never
// overwrites, so the objects the first run created are found, and
// reported created (clusterrestore.Options.Resume), and the volumes whose
// work items it made are waited for again.
type RestoreReconciler struct {
	base
	ended chan event.GenericEvent // Restores whose operation returned
}

func (r *RestoreReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("restore").
		For(&cairnv1.Restore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A work item's change wakes the Restore's waiting operation.
		Watches(&cairnv1.PodVolumeRestore{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &cairnv1.Restore{})).
		WatchesRawSource(source.Channel(r.ended, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// Reconcile starts a new Restore's run, or resumes one.
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
	case cairnv1.PhaseInProgress, cairnv1.PhaseWaitingForVolumes:
		if r.ops.isRunning(rs.UID) {
			r.ops.notify(rs.UID) // a work item changed
			return ctrl.Result{}, nil
		}
	default:
		return ctrl.Result{}, nil
	}
	rs2 := rs.DeepCopy()
	r.ops.start(ctx, rs2, r.ended, func(ctx context.Context, op *operation) { r.run(ctx, op, rs2) })
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
	return r.sourceBackup(ctx, rs.Namespace, rs.Spec.BackupName, rs.Spec.ScheduleName)
}

// sourceBackup returns the Backup name in ns, or, when name is empty, the
// newest Completed one of schedule: the backup a Restore or a drill
// restores.
func (b *base) sourceBackup(ctx context.Context, ns, name, schedule string) (*cairnv1.Backup, error) {
	if name != "" {
		var bk cairnv1.Backup
		if err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &bk); err != nil {
			return nil, fmt.Errorf("backup %q: %w (see `cairn ctl backup get`)", name, err)
		}
		if bk.Status.Phase != cairnv1.PhaseCompleted && bk.Status.Phase != cairnv1.PhasePartiallyFailed {
			return nil, fmt.Errorf("backup %q is %s: only Completed or PartiallyFailed backups can be restored", bk.Name, phaseOrNew(bk.Status.Phase))
		}
		return &bk, nil
	}
	var list cairnv1.BackupList
	if err := b.c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{cairnv1.LabelSchedule: schedule}); err != nil {
		return nil, err
	}
	newest := NewestCompleted(list.Items)
	if newest == nil {
		return nil, fmt.Errorf("schedule %q has no Completed backup (see `cairn ctl backup get --schedule %s`)", schedule, schedule)
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

// run runs rs: the first time from New, again (a resume) from a running
// phase no process holds.
func (r *RestoreReconciler) run(ctx context.Context, op *operation, rs *cairnv1.Restore) {
	log := logr.FromContextOrDiscard(ctx).WithValues("restore", rs.Name)
	schedule := rs.Spec.ScheduleName
	observed := false
	observe := func() {
		if !observed {
			observed = true
			observeRestore(rs, schedule)
		}
	}
	resumed := rs.Status.Phase.Running()
	if resumed && rs.Status.Attempts >= cairnv1.MaxRestoreAttempts {
		// A decision from a read: if the Restore changed since, read again.
		before := rs.DeepCopy()
		r.markFailed(rs, cairnv1.ReasonInterrupted, fmt.Sprintf(
			"the controller stopped during each of the %d runs of this restore; objects restored so far stay: create a new restore to finish (existing objects are skipped)", rs.Status.Attempts))
		if err := statuspatch.Transition(ctx, r.c, rs, before); err == nil {
			observe()
		}
		return
	}
	var b *cairnv1.Backup
	var err error
	if resumed && rs.Status.BackupName != "" {
		b, err = r.sourceBackup(ctx, rs.Namespace, rs.Status.BackupName, "")
	} else {
		b, err = r.source(ctx, rs)
	}
	if b != nil && b.Labels[cairnv1.LabelSchedule] != "" {
		schedule = b.Labels[cairnv1.LabelSchedule]
	}
	defer func() {
		if rs.Status.Phase.Finished() {
			observe()
		}
	}()
	if err != nil {
		r.failRun(ctx, log, rs, resumed, cairnv1.ReasonBackupNotFound, err.Error())
		return
	}
	loc, err := r.location(ctx, b.Status.StorageLocation)
	if err != nil {
		r.failRun(ctx, log, rs, resumed, cairnv1.ReasonLocation, err.Error())
		return
	}
	opts := clusterrestore.Options{
		IncludeNamespaces: rs.Spec.IncludedNamespaces, ExcludeNamespaces: rs.Spec.ExcludedNamespaces,
		IncludeResources: rs.Spec.IncludedResources, ExcludeResources: rs.Spec.ExcludedResources,
		Selector: rs.Spec.LabelSelector, IncludeClusterResources: rs.Spec.IncludeClusterResources,
		NamespaceMapping: rs.Spec.NamespaceMapping, ExistingResourcePolicy: rs.Spec.ExistingResourcePolicy,
		PreserveNodePorts: rs.Spec.PreserveNodePorts, Resume: resumed,
		Now: r.now, Log: slog.New(logr.ToSlogHandler(log)),
	}
	if len(validation.IsValidLabelValue(rs.Name)) == 0 {
		opts.Name = rs.Name
	}
	cluster := r.o.Cluster
	if who := rs.Spec.RunAs; who != nil {
		// A namespace owner's restore: every request is theirs.
		cluster = impersonating(cluster, *who)
		opts.NamespacedOnly = true
	}
	before := rs.DeepCopy()
	rs.Status.Phase = cairnv1.PhaseInProgress
	rs.Status.Attempts++
	rs.Status.BackupName = b.Name
	rs.Status.SnapshotID = b.Status.SnapshotID
	if rs.Status.StartTimestamp == nil {
		rs.Status.StartTimestamp = r.metaNow()
	}
	msg := "restoring backup " + b.Name
	if resumed {
		msg += fmt.Sprintf(" (run %d: the controller stopped during the one before)", rs.Status.Attempts)
	}
	setReady(&rs.Status.Conditions, rs.Generation, false, cairnv1.ReasonInProgress, msg)
	// Decided from a read: a Conflict leaves the Restore as it was, before
	// anything was restored, and it is read again.
	if err := statuspatch.Transition(ctx, r.c, rs, before); err != nil {
		log.Info("restore not started; it is read again", "reason", err.Error())
		return
	}
	log.Info("restore started", "backup", b.Name, "attempt", rs.Status.Attempts)

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
			rep, err = clusterrestore.Run(ctx, rp, sn, cluster, opts)
			return err
		}
		if loc.Spec.AccessMode == cairnv1.ReadOnly {
			return run(ctx)
		}
		return rp.WaitLock(ctx, repo.Shared, "restore "+rs.Name, r.o.LockWait, waitingForLock(ctx), run)
	})
	if ctx.Err() != nil {
		return // stopping: the next leader runs it again
	}
	before = rs.DeepCopy() // from here on, Outcomes of the run
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
	var volumes string // why pod volumes were missed or failed
	if rep != nil && (err == nil || errors.Is(err, clusterrestore.ErrPartial)) {
		rs.Status.Phase = cairnv1.PhaseWaitingForVolumes
		setReady(&rs.Status.Conditions, rs.Generation, false, cairnv1.ReasonWaitingForVolume,
			fmt.Sprintf("%d objects created, %d skipped; restoring pod volumes", rs.Status.Created, rs.Status.Skipped))
		if err := statuspatch.Outcome(ctx, r.c, rs, before); err != nil {
			log.Error(err, "record the restored objects; the restore is run again")
			return
		}
		before = rs.DeepCopy()
		var ok bool
		if rs.Status.Volumes, volumes, ok = r.restoreVolumes(ctx, log, op, vr, rep); !ok {
			return
		}
	}
	rs.Status.CompletionTimestamp = r.metaNow()
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
		log.Error(err, "restore failed")
		r.markFailed(rs, cairnv1.ReasonFailed, err.Error())
	}
	log.Info("restore finished", "phase", rs.Status.Phase, "created", rs.Status.Created, "failed", rs.Status.Failed)
	if err := statuspatch.Outcome(ctx, r.c, rs, before); err != nil {
		log.Error(err, "record the outcome; the restore is run again")
		rs.Status.Phase = cairnv1.PhaseInProgress // not recorded: not observed
	}
}

// failRun ends rs Failed before anything was restored: a Transition when
// rs was read running (a resume), else an Outcome.
func (r *RestoreReconciler) failRun(ctx context.Context, log logr.Logger, rs *cairnv1.Restore, resumed bool, reason, msg string) {
	before := rs.DeepCopy()
	r.markFailed(rs, reason, msg)
	write := statuspatch.Outcome
	if resumed {
		write = statuspatch.Transition
	}
	if err := write(ctx, r.c, rs, before); err != nil {
		log.Info("restore outcome not recorded; it is read again", "reason", err.Error())
		rs.Status.Phase = before.Status.Phase
	}
}

// impersonating returns cfg acting as who: the API server authorizes and
// admits each request as theirs.
func impersonating(cfg *rest.Config, who cairnv1.Requester) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: who.Username, UID: who.UID, Groups: who.Groups, Extra: who.Extra}
	return c
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
