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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

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

// BackupReconciler runs Backups and deletes expired ones.
type BackupReconciler struct {
	base
	mu  sync.Mutex
	ran map[string]bool // UIDs of Backups this process started
}

func (r *BackupReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("backup").
		For(&cairnv1.Backup{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
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
		return ctrl.Result{}, r.finalize(ctx, &b)
	}
	switch b.Status.Phase {
	case "", cairnv1.PhaseNew:
		if b.Labels[cairnv1.LabelSynced] == "true" {
			// Created by the bucket sync, which sets its status next.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, r.run(ctx, log, &b)
	case cairnv1.PhaseInProgress:
		if r.started(b.UID) {
			return ctrl.Result{}, nil // a stale read of a backup that ran here
		}
		// A decision from a read: if the Backup changed since, read again.
		before := b.DeepCopy()
		b.Status.Phase = cairnv1.PhaseFailed
		b.Status.FailureReason = "the controller stopped while the backup was running; nothing was saved under this name, create a new backup"
		b.Status.CompletionTimestamp = r.metaNow()
		setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonInterrupted, b.Status.FailureReason)
		return ctrl.Result{}, statuspatch.Transition(ctx, r.c, &b, before)
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

func (r *BackupReconciler) started(uid any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ran[fmt.Sprint(uid)]
}

func (r *BackupReconciler) markStarted(uid any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran[fmt.Sprint(uid)] = true
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

// run validates a new Backup, marks it InProgress and runs it.
func (r *BackupReconciler) run(ctx context.Context, log logr.Logger, b *cairnv1.Backup) error {
	var size int64
	defer func() { observeBackup(b, size) }()
	ttl, err := r.o.Retention.ttl(b.Spec.TTL)
	if err != nil {
		return r.fail(ctx, b, cairnv1.ReasonRetention, "rejected: "+err.Error())
	}
	opts := backupOptions(b.Name, b.Spec, ttl)
	if err := opts.Validate(); err != nil {
		return r.fail(ctx, b, cairnv1.ReasonInvalidSpec, "rejected: "+err.Error())
	}
	loc, err := r.location(ctx, b.Spec.StorageLocation)
	if err != nil {
		return r.fail(ctx, b, cairnv1.ReasonLocation, err.Error())
	}
	if loc.Spec.AccessMode == cairnv1.ReadOnly {
		return r.fail(ctx, b, cairnv1.ReasonReadOnlyLocation, fmt.Sprintf("BackupLocation %s is ReadOnly: back up to a ReadWrite location", loc.Name))
	}
	if controllerutil.AddFinalizer(b, Finalizer) || b.Labels[cairnv1.LabelLocation] != loc.Name {
		if b.Labels == nil {
			b.Labels = map[string]string{}
		}
		b.Labels[cairnv1.LabelLocation] = loc.Name
		if err := r.c.Update(ctx, b); err != nil {
			return err
		}
	}
	start := r.now()
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
	// resourceVersion: a Conflict (a stale read, an edit) starts again from
	// New, before anything was done.
	if err := statuspatch.Transition(ctx, r.c, b, before); err != nil {
		return err
	}
	r.markStarted(b.UID)
	// From here on, every write records what the run did: an Outcome, which
	// an edit of the Backup meanwhile cannot make fail.
	before = b.DeepCopy()
	log.Info("backup started", "backup", b.Name, "location", loc.Name)

	opts.Now = r.now
	opts.Log = slog.New(logr.ToSlogHandler(log.WithValues("backup", b.Name)))
	var sn *snapshot.Snapshot
	var m *layout.Manifest
	err = r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		return rp.WithLock(ctx, repo.Shared, "backup "+b.Name, func(ctx context.Context) error {
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
	var volumes string // why pod volumes were missed or failed
	if sn != nil && (err == nil || errors.Is(err, backup.ErrPartial)) {
		b.Status.Volumes, volumes = r.backupVolumes(ctx, log, b, loc, sn)
	}
	b.Status.CompletionTimestamp = r.metaNow()
	if m != nil {
		b.Status.Items, b.Status.Warnings, b.Status.Errors = m.Items, len(m.Warnings), len(m.Errors)
		if b.Status.Volumes != nil {
			b.Status.Warnings += len(b.Status.Volumes.Warnings)
		}
	}
	if sn != nil {
		b.Status.SnapshotID = sn.ID
		if sn.Summary != nil {
			size = sn.Summary.TotalBytes
		}
	}
	took := r.now().Sub(start).Round(time.Second)
	switch {
	case err == nil && volumes != "":
		b.Status.Phase = cairnv1.PhasePartiallyFailed
		b.Status.FailureReason = volumes
		setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(volumes, 2000))
	case err == nil:
		b.Status.Phase = cairnv1.PhaseCompleted
		b.Status.FailureReason = ""
		setReady(&b.Status.Conditions, b.Generation, true, cairnv1.ReasonCompleted,
			fmt.Sprintf("%d objects backed up in %s (snapshot %s)", m.Items, took, sn.ShortID()))
	case errors.Is(err, backup.ErrPartial) && sn != nil:
		b.Status.Phase = cairnv1.PhasePartiallyFailed
		b.Status.FailureReason = partialReason(m)
		if volumes != "" {
			b.Status.FailureReason += "; " + volumes
		}
		setReady(&b.Status.Conditions, b.Generation, false, cairnv1.ReasonPartiallyFailed, truncate(b.Status.FailureReason, 2000))
	default:
		reason := cairnv1.ReasonFailed
		if errors.Is(err, errLocation) {
			reason = cairnv1.ReasonLocation
		}
		log.Error(err, "backup failed", "backup", b.Name)
		r.markFailed(b, reason, err.Error())
	}
	log.Info("backup finished", "backup", b.Name, "phase", b.Status.Phase, "items", b.Status.Items, "errors", b.Status.Errors)
	return statuspatch.Outcome(ctx, r.c, b, before)
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
	controllerutil.RemoveFinalizer(b, Finalizer)
	return client.IgnoreNotFound(r.c.Update(ctx, b))
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
