package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// Finalizer on Backups: the snapshot is forgotten in the repository
// before the object goes.
const Finalizer = "cairn.dev/snapshot"

// +kubebuilder:rbac:groups=cairn.dev,resources=backups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cairn.dev,resources=backups/status;backups/finalizers,verbs=get;update;patch

// BackupReconciler runs Backups and deletes expired ones. A Backup's run
// is an operation (ops.go): New → InProgress (the resources are saved) →
// WaitingForVolumes (the snapshot is saved and its ID written; the node
// agents back up the pod volumes) → Completed, PartiallyFailed or Failed.
// A run that a killed controller left InProgress or WaitingForVolumes is
// resumed by the next one from its status and the repository (resume).
type BackupReconciler struct {
	base
	ended chan event.GenericEvent // Backups whose operation returned
}

func (r *BackupReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("backup").
		For(&cairnv1.Backup{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// A work item's change wakes the Backup's waiting operation.
		Watches(&cairnv1.PodVolumeBackup{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &cairnv1.Backup{})).
		WatchesRawSource(source.Channel(r.ended, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// Reconcile moves a Backup one step along its life.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	var b cairnv1.Backup
	if err := r.c.Get(ctx, req.NamespacedName, &b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		if r.ops.isRunning(b.UID) {
			return ctrl.Result{}, nil // its operation ends, then the finalizer runs
		}
		return ctrl.Result{}, r.finalize(ctx, &b)
	}
	switch b.Status.Phase {
	case "", cairnv1.PhaseNew:
		if b.Labels[cairnv1.LabelSynced] == "true" {
			// Created by the bucket sync, which sets its status next.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, r.begin(ctx, &b)
	case cairnv1.PhaseInProgress, cairnv1.PhaseWaitingForVolumes:
		if r.ops.isRunning(b.UID) {
			r.ops.notify(b.UID) // a work item changed
			return ctrl.Result{}, nil
		}
		// Running, but not here: the process that ran it is gone.
		b := b.DeepCopy()
		r.ops.start(ctx, b, r.ended, func(ctx context.Context, op *operation) { r.resume(ctx, op, b) })
		return ctrl.Result{}, nil
	case cairnv1.PhaseDeleting:
		return ctrl.Result{}, client.IgnoreNotFound(r.c.Delete(ctx, &b))
	}
	// Finished: delete it when it expires.
	exp := b.Status.Expiration
	if exp == nil {
		return ctrl.Result{}, nil
	}
	if wait := exp.Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	log.Info("backup expired; deleting it", "backup", b.Name, "expiration", exp.Time)
	before := b.DeepCopy()
	b.Status.Phase = cairnv1.PhaseDeleting
	setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonExpired, "the backup expired at "+exp.UTC().Format(time.RFC3339)+"; its snapshot is forgotten and its data pruned")
	if err := statuspatch.Transition(ctx, r.c, &b, before); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.c.Delete(ctx, &b))
}

// fail ends a Backup in phase Failed with a reason.
func (r *BackupReconciler) fail(ctx context.Context, b *cairnv1.Backup, reason, msg string) error {
	before := b.DeepCopy()
	r.markFailed(b, reason, msg)
	return statuspatch.Outcome(ctx, r.c, b, before)
}

// markFailed sets b's status to Failed with a reason (not written).
func (r *BackupReconciler) markFailed(b *cairnv1.Backup, reason, msg string) {
	b.Status.Phase = cairnv1.PhaseFailed
	b.Status.FailureReason = msg
	if b.Status.CompletionTimestamp == nil {
		b.Status.CompletionTimestamp = r.metaNow()
	}
	setReady(&b.Status.Conditions, b.Generation, false, reason, truncate(msg, 2000))
}

// begin validates a new Backup, adds the finalizer and starts its run.
func (r *BackupReconciler) begin(ctx context.Context, b *cairnv1.Backup) error {
	ttl, err := r.o.Retention.ttl(b.Spec.TTL)
	if err != nil {
		defer observeBackup(b, 0)
		return r.fail(ctx, b, cairnv1.ReasonRetention, "rejected: "+err.Error())
	}
	opts := backupOptions(b.Name, b.Spec, ttl)
	if err := opts.Validate(); err != nil {
		defer observeBackup(b, 0)
		return r.fail(ctx, b, cairnv1.ReasonInvalidSpec, "rejected: "+err.Error())
	}
	loc, err := r.location(ctx, b.Spec.StorageLocation)
	if err != nil {
		defer observeBackup(b, 0)
		return r.fail(ctx, b, cairnv1.ReasonLocation, err.Error())
	}
	if loc.Spec.AccessMode == cairnv1.ReadOnly {
		defer observeBackup(b, 0)
		return r.fail(ctx, b, cairnv1.ReasonReadOnlyLocation, fmt.Sprintf("BackupLocation %s is ReadOnly: back up to a ReadWrite location", loc.Name))
	}
	if !controllerutil.ContainsFinalizer(b, Finalizer) || b.Labels[cairnv1.LabelLocation] != loc.Name {
		// A patch of the metadata read, refused if the Backup changed
		// since (the next reconcile reads it again).
		orig := b.DeepCopy()
		controllerutil.AddFinalizer(b, Finalizer)
		if b.Labels == nil {
			b.Labels = map[string]string{}
		}
		b.Labels[cairnv1.LabelLocation] = loc.Name
		if err := r.c.Patch(ctx, b, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	b = b.DeepCopy()
	r.ops.start(ctx, b, r.ended, func(ctx context.Context, op *operation) { r.run(ctx, op, b, loc, ttl, opts) })
	return nil
}

// run marks a new Backup InProgress and runs it.
func (r *BackupReconciler) run(ctx context.Context, op *operation, b *cairnv1.Backup, loc *cairnv1.BackupLocation, ttl time.Duration, opts backup.Options) {
	log := logr.FromContextOrDiscard(ctx).WithValues("backup", b.Name)
	before := b.DeepCopy()
	b.Status.Phase = cairnv1.PhaseInProgress
	b.Status.StorageLocation = loc.Name
	b.Status.StartTimestamp = r.metaNow()
	if ttl > 0 {
		exp := metav1.NewTime(b.Status.StartTimestamp.Add(ttl))
		b.Status.Expiration = &exp
	}
	setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonInProgress, "backing up to "+loc.Name)
	// New → InProgress is decided from a read, so it carries the
	// resourceVersion: a Conflict (a stale read, an edit) leaves the
	// Backup New, before anything was done, and it is read again.
	if err := statuspatch.Transition(ctx, r.c, b, before); err != nil {
		log.Info("backup not started; it is read again", "reason", err.Error())
		return
	}
	log.Info("backup started", "location", loc.Name)
	opts.Now = r.now
	opts.Log = slog.New(logr.ToSlogHandler(log))
	var sn *snapshot.Snapshot
	var m *layout.Manifest
	err := r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		return rp.WaitLock(ctx, repo.Shared, "backup "+b.Name, r.o.LockWait, waitingForLock(ctx), func(ctx context.Context) error {
			// The expiry backup.Run gives the snapshot: its start plus the ttl.
			now := r.now()
			var expires *time.Time
			if ttl > 0 {
				exp := now.Add(ttl)
				expires = &exp
			}
			if err := rp.RetainNew(ctx, rp.Config().RetainUntil(now, expires)); err != nil {
				return fmt.Errorf("object lock: %w", err)
			}
			var err error
			sn, m, err = backup.Run(ctx, rp, r.o.Cluster, opts)
			if sn != nil {
				if _, lerr := snapshot.Retain(ctx, rp, sn); lerr != nil {
					return fmt.Errorf("snapshot %s saved, but %w", sn.ShortID(), lerr)
				}
			}
			return err
		})
	})
	if ctx.Err() != nil {
		return // stopping: the next leader resumes it
	}
	if sn == nil || (err != nil && !errors.Is(err, backup.ErrPartial)) {
		if err == nil {
			err = errors.New("no snapshot was saved")
		}
		reason := cairnv1.ReasonFailed
		if errors.Is(err, errLocation) {
			reason = cairnv1.ReasonLocation
		}
		log.Error(err, "backup failed")
		defer observeBackup(b, 0)
		if perr := r.fail(ctx, b, reason, err.Error()); perr != nil {
			log.Error(perr, "record the outcome")
		}
		return
	}
	r.saved(ctx, op, b, loc, sn, m)
}

// saved records that the Backup's snapshot sn (of manifest m) exists —
// WaitingForVolumes, with its ID and counts — then backs up the pod
// volumes and records the outcome.
func (r *BackupReconciler) saved(ctx context.Context, op *operation, b *cairnv1.Backup, loc *cairnv1.BackupLocation, sn *snapshot.Snapshot, m *layout.Manifest) {
	log := logr.FromContextOrDiscard(ctx).WithValues("backup", b.Name)
	if b.Status.Phase != cairnv1.PhaseWaitingForVolumes {
		before := b.DeepCopy()
		markSaved(b, sn, m, "")
		if err := statuspatch.Outcome(ctx, r.c, b, before); err != nil {
			log.Error(err, "record the saved snapshot; the run is resumed from the repository")
			return
		}
	}
	sum, volumes, ok := r.backupVolumes(ctx, log, op, b, loc, sn) // volumes: why pod volumes were missed or failed
	if !ok {
		return // stopping, or its plan could not be recorded: resumed later
	}
	before := b.DeepCopy()
	b.Status.Volumes = sum
	b.Status.CompletionTimestamp = r.metaNow()
	b.Status.Warnings = len(m.Warnings)
	if b.Status.Volumes != nil {
		b.Status.Warnings += len(b.Status.Volumes.Warnings)
	}
	took := b.Status.CompletionTimestamp.Sub(b.Status.StartTimestamp.Time).Round(time.Second)
	switch {
	case len(m.Errors) > 0:
		b.Status.Phase = cairnv1.PhasePartiallyFailed
		b.Status.FailureReason = partialReason(m)
		if volumes != "" {
			b.Status.FailureReason += "; " + volumes
		}
		setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(b.Status.FailureReason, 2000))
	case volumes != "":
		b.Status.Phase = cairnv1.PhasePartiallyFailed
		b.Status.FailureReason = volumes
		setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(volumes, 2000))
	default:
		b.Status.Phase = cairnv1.PhaseCompleted
		b.Status.FailureReason = ""
		setReady(&b.Status.Conditions, b.Generation, true, cairnv1.ReasonCompleted,
			fmt.Sprintf("%d objects backed up in %s (snapshot %s)", m.Items, took, sn.ShortID()))
	}
	var size int64
	if sn.Summary != nil {
		size = sn.Summary.TotalBytes
	}
	log.Info("backup finished", "phase", b.Status.Phase, "items", b.Status.Items, "errors", b.Status.Errors)
	if err := statuspatch.Outcome(ctx, r.c, b, before); err != nil {
		log.Error(err, "record the outcome; the run is resumed")
		return
	}
	observeBackup(b, size)
}

// resume goes on with a run that a process which is gone left
// InProgress or WaitingForVolumes. InProgress: if the repository holds the
// backup's snapshot (the process died after saving it), the run goes on
// with its volumes; if not, nothing of it was saved, and it ends Failed —
// the next scheduled backup runs as usual. WaitingForVolumes: the volumes
// are waited for again (their work items were created; see
// backupVolumes).
func (r *BackupReconciler) resume(ctx context.Context, op *operation, b *cairnv1.Backup) {
	log := logr.FromContextOrDiscard(ctx).WithValues("backup", b.Name)
	interrupted := func(msg string) {
		// A decision from a read: if the Backup changed since, it is
		// read again.
		before := b.DeepCopy()
		r.markFailed(b, cairnv1.ReasonInterrupted, msg)
		if err := statuspatch.Transition(ctx, r.c, b, before); err != nil {
			log.Info("interrupted backup not recorded; it is read again", "reason", err.Error())
			return
		}
		observeBackup(b, 0)
	}
	loc, err := r.location(ctx, b.Status.StorageLocation)
	if err != nil {
		interrupted("the controller stopped while the backup was running, and its location is gone: " + err.Error())
		return
	}
	var sn *snapshot.Snapshot
	var m *layout.Manifest
	err = r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		var err error
		if b.Status.SnapshotID != "" {
			sn, err = backup.Find(ctx, rp, b.Status.SnapshotID)
		} else {
			sn, err = savedSnapshot(ctx, rp, b)
		}
		if err != nil || sn == nil {
			return err
		}
		m, err = backup.LoadManifest(ctx, rp, sn)
		return err
	})
	switch {
	case ctx.Err() != nil:
		return
	case err != nil && !errors.Is(err, snapshot.ErrNotFound):
		log.Error(err, "resume: the repository could not be read; tried again after the recheck interval")
		// Not at once: the operation's end queues the Backup again, and an
		// unreadable object would make that a loop of reads.
		op.wait(ctx, r.o.Recheck)
		return
	case sn == nil:
		interrupted("the controller stopped while the backup was saving its resources, before its snapshot was saved; nothing was saved under this name: create a new backup, or let the schedule run the next one")
		return
	}
	log.Info("resuming a backup the controller left unfinished", "phase", b.Status.Phase, "snapshot", sn.ShortID())
	if b.Status.Phase == cairnv1.PhaseInProgress {
		// Its snapshot was saved: InProgress → WaitingForVolumes, decided
		// from a read.
		before := b.DeepCopy()
		markSaved(b, sn, m, " (resumed)")
		if err := statuspatch.Transition(ctx, r.c, b, before); err != nil {
			log.Info("resumed backup not recorded; it is read again", "reason", err.Error())
			return
		}
	}
	r.saved(ctx, op, b, loc, sn, m)
}

// markSaved sets b's status to WaitingForVolumes with its saved snapshot
// sn of manifest m (not written).
func markSaved(b *cairnv1.Backup, sn *snapshot.Snapshot, m *layout.Manifest, note string) {
	b.Status.Phase = cairnv1.PhaseWaitingForVolumes
	b.Status.SnapshotID = sn.ID
	b.Status.Items, b.Status.Warnings, b.Status.Errors = m.Items, len(m.Warnings), len(m.Errors)
	b.Status.Namespaces = manifestNamespaces(m)
	b.Status.NamespaceItems = manifestCounts(m)
	setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonWaitingForVolume,
		fmt.Sprintf("%d objects saved (snapshot %s); backing up pod volumes%s", m.Items, sn.ShortID(), note))
}

// manifestNamespaces returns the namespaces m counts objects of, sorted.
func manifestNamespaces(m *layout.Manifest) []string {
	var out []string
	for ns := range m.CountsByNamespace {
		if ns != "" {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}

// manifestCounts returns m's object counts of namespaces (not of the
// cluster-scoped objects), or nil.
func manifestCounts(m *layout.Manifest) map[string]int {
	var out map[string]int
	for ns, n := range m.CountsByNamespace {
		if ns != "" {
			if out == nil {
				out = map[string]int{}
			}
			out[ns] = n
		}
	}
	return out
}

// savedSnapshot returns the cluster snapshot the run of b saved, or nil:
// one of b's name taken after b started (a Backup deleted and created
// again under its name must not find the first one's).
func savedSnapshot(ctx context.Context, rp *repo.Repository, b *cairnv1.Backup) (*snapshot.Snapshot, error) {
	all, err := backup.List(ctx, rp)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		sn := all[i]
		if backup.Name(sn) != b.Name {
			continue
		}
		// Start timestamps are kept to the second.
		if b.Status.StartTimestamp == nil || !sn.Time.Before(b.Status.StartTimestamp.Add(-time.Second)) {
			return sn, nil
		}
	}
	return nil, nil
}

// partialReason states why a backup partially failed: what could not be
// backed up, in the API server's words.
func partialReason(m *layout.Manifest) string {
	const show = 3
	errs := m.Errors
	more := ""
	if len(errs) > show {
		more = fmt.Sprintf("; and %d more (see `cairn ctl backup logs %s`)", len(errs)-show, m.Name)
		errs = errs[:show]
	}
	return fmt.Sprintf("%d of the selected resource lists failed, the rest was saved: %s%s", len(m.Errors), strings.Join(errs, "; "), more)
}

// backupOptions maps a BackupSpec onto the engine's options.
func backupOptions(name string, s cairnv1.BackupSpec, ttl time.Duration) backup.Options {
	return backup.Options{
		Name: name, IncludeNamespaces: s.IncludedNamespaces, ExcludeNamespaces: s.ExcludedNamespaces,
		IncludeResources: s.IncludedResources, ExcludeResources: s.ExcludedResources,
		Selector: s.LabelSelector, IncludeClusterResources: s.IncludeClusterResources,
		PlatformNamespaces: s.PlatformNamespaces, OptOutLabel: s.OptOutLabel, TTL: ttl,
	}
}

// finalize forgets a deleted Backup's snapshot, then lets the object go.
func (r *BackupReconciler) finalize(ctx context.Context, b *cairnv1.Backup) error {
	if !controllerutil.ContainsFinalizer(b, Finalizer) {
		return nil
	}
	if b.Status.SnapshotID != "" {
		if err := r.forget(ctx, b); err != nil {
			return err
		}
	}
	orig := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, Finalizer)
	return client.IgnoreNotFound(r.c.Patch(ctx, b, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}

// forget removes the Backup's snapshot from a ReadWrite location's
// repository and asks for a prune. A ReadOnly location is left alone (the
// bucket sync will show the backup again); a location that is gone has
// nothing to forget.
func (r *BackupReconciler) forget(ctx context.Context, b *cairnv1.Backup) error {
	name := b.Status.StorageLocation
	if name == "" {
		name = b.Labels[cairnv1.LabelLocation]
	}
	if name == "" {
		return nil
	}
	loc, err := r.location(ctx, name)
	if apierrors.IsNotFound(err) || (err == nil && loc.Spec.AccessMode == cairnv1.ReadOnly) {
		return nil
	}
	if err != nil {
		return err
	}
	err = r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		// By ID through backup.Find: a backup written again without
		// erased data (cairn erase apply) has a new ID and is found by
		// its first one.
		sn, err := backup.Find(ctx, rp, b.Status.SnapshotID)
		if err != nil {
			if errors.Is(err, snapshot.ErrNotFound) {
				return nil
			}
			return err
		}
		return rp.WithLock(ctx, repo.Shared, "forget "+b.Name, func(ctx context.Context) error {
			vols, err := volumeSnapshots(ctx, rp, b.Name)
			if err != nil {
				return err
			}
			return snapshot.Forget(ctx, rp, append([]*snapshot.Snapshot{sn}, vols...))
		})
	})
	if err != nil {
		return fmt.Errorf("forget the snapshot of backup %s: %w", b.Name, err)
	}
	if err := requestPrune(ctx, r.c, loc, r.metaNow()); err != nil {
		return err
	}
	logr.FromContextOrDiscard(ctx).Info("backup forgotten", "backup", b.Name, "snapshot", b.Status.SnapshotID)
	return nil
}
