package controller

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=backuplocations,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=backuplocations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// LocationReconciler checks BackupLocations, syncs their backups into the
// cluster and prunes them.
type LocationReconciler struct {
	base
	maintenance *operations             // scheduled checks: one at a time, apart from backups and restores
	ended       chan event.GenericEvent // locations whose check returned
}

func (r *LocationReconciler) setup(mgr ctrl.Manager) error {
	if err := mgr.Add(r.maintenance); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("backuplocation").
		For(&cairnv1.BackupLocation{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.ended, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// Reconcile opens the location's repository, creates the Backup objects it
// lacks, prunes when backups were forgotten, and requeues after
// Options.SyncInterval.
func (r *LocationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	var loc cairnv1.BackupLocation
	if err := r.c.Get(ctx, req.NamespacedName, &loc); err != nil {
		if apierrors.IsNotFound(err) {
			observeLocation(req.Name, false, true)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := loc.DeepCopy()
	pruneDue := loc.Spec.AccessMode != cairnv1.ReadOnly && (loc.Status.PruneRequested != nil || r.pruneScheduled(&loc))
	var created int
	var pruned *prune.Report
	veleroMore := false
	err := r.repos.With(ctx, &loc, func(rp *repo.Repository) error {
		observeLock(loc.Name, rp.Config().ObjectLock)
		if loc.Spec.VeleroImport != nil && loc.Spec.AccessMode != cairnv1.ReadOnly {
			veleroMore = r.importVelero(ctx, rp, &loc)
		}
		sns, err := backup.List(ctx, rp)
		if err != nil {
			return err
		}
		loc.Status.Backups = len(sns)
		if created, err = r.sync(ctx, rp, &loc, sns); err != nil {
			return err
		}
		if pruneDue {
			if pruned, err = r.prune(ctx, rp); err != nil {
				// status.pruneRequested stays: the next sync tries again.
				pruned = nil
				log.Error(err, "prune failed; retrying at the next sync", "location", loc.Name)
				return nil
			}
			// Cleared only if no backup was forgotten since the read
			// (optimistic lock); else the next sync prunes again.
			cleared, read := before.DeepCopy(), before.DeepCopy()
			cleared.Status.PruneRequested = nil
			if err := statuspatch.Transition(ctx, r.c, cleared, read); err != nil {
				log.Info("prune done, request kept for the next sync (the location changed meanwhile)", "location", loc.Name, "reason", err.Error())
			} else {
				loc.Status.PruneRequested, before.Status.PruneRequested = nil, nil
				loc.SetResourceVersion(cleared.GetResourceVersion())
			}
		}
		return nil
	})
	now := r.metaNow()
	loc.Status.LastValidationTime = now
	if err != nil {
		loc.Status.Phase = cairnv1.LocationUnavailable
		loc.Status.Message = err.Error()
		setReady(&loc.Status.Conditions, loc.Generation, false, cairnv1.ReasonLocation, truncate(err.Error(), 2000))
		log.Info("backup location unavailable", "location", loc.Name, "reason", err.Error())
	} else {
		loc.Status.Phase = cairnv1.LocationAvailable
		loc.Status.Message = ""
		loc.Status.LastSyncTime = now
		if pruned != nil {
			loc.Status.LastPruneTime = now
			log.Info("pruned", "location", loc.Name, "packsDeleted", pruned.PacksDeleted, "bytesFreed", pruned.BytesFreed)
		}
		msg := fmt.Sprintf("repository opened; %d backups", loc.Status.Backups)
		if created > 0 {
			msg += fmt.Sprintf(", %d re-created from the repository", created)
		}
		setReady(&loc.Status.Conditions, loc.Generation, true, cairnv1.ReasonAvailable, msg)
	}
	observeLocation(loc.Name, err == nil, false)
	observeCheck(&loc)
	observeReplicas(&loc)
	if uerr := statuspatch.Outcome(ctx, r.c, &loc, before); uerr != nil {
		return ctrl.Result{}, uerr
	}
	next := r.o.SyncInterval
	if err == nil {
		// Maintenance: the check and the replications due, one operation.
		checkNow := false
		if wait, on := r.checkDue(&loc); on {
			if checkNow = wait <= 0; !checkNow {
				next = min(next, wait)
			}
		}
		due, wait := r.replicasDue(&loc)
		if len(due) == 0 && wait > 0 {
			next = min(next, wait)
		}
		if checkNow || len(due) > 0 {
			l := loc.DeepCopy()
			r.maintenance.start(ctx, l, r.ended, func(ctx context.Context, _ *operation) {
				if checkNow {
					r.runCheck(ctx, l)
				}
				if len(due) > 0 {
					r.runReplicas(ctx, l, due)
				}
			})
		}
	}
	if veleroMore {
		next = min(next, veleroStep)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// DefaultPruneInterval is the longest time between two prunes of a
// location by default.
const DefaultPruneInterval = 7 * 24 * time.Hour

// pruneScheduled reports whether loc is due a scheduled prune
// (spec.pruneInterval since status.lastPruneTime, or since it was
// created).
func (r *LocationReconciler) pruneScheduled(loc *cairnv1.BackupLocation) bool {
	every := DefaultPruneInterval
	if d := loc.Spec.PruneInterval; d != nil {
		every = d.Duration
	}
	if every <= 0 {
		return false
	}
	last := loc.CreationTimestamp.Time
	if t := loc.Status.LastPruneTime; t != nil {
		last = t.Time
	}
	return !r.now().Before(last.Add(every))
}

// sync creates a Backup object, with its status from the manifest, for each
// backup in the repository that has none in the cluster.
func (r *LocationReconciler) sync(ctx context.Context, rp *repo.Repository, loc *cairnv1.BackupLocation, sns []*snapshot.Snapshot) (int, error) {
	var have cairnv1.BackupList
	if err := r.api.List(ctx, &have, client.InNamespace(loc.Namespace)); err != nil {
		return 0, err
	}
	exists := map[string]bool{}
	for _, b := range have.Items {
		exists[b.Name] = true
	}
	created := 0
	for _, sn := range sns {
		name := backup.Name(sn)
		if exists[name] || len(validation.IsDNS1123Subdomain(name)) > 0 {
			continue
		}
		m, err := backup.LoadManifest(ctx, rp, sn)
		if err != nil {
			return created, err
		}
		if err := r.createSynced(ctx, loc, sn, m); err != nil {
			return created, err
		}
		exists[name] = true
		created++
	}
	return created, nil
}

// scheduledName matches the names a Schedule gives its backups.
var scheduledName = regexp.MustCompile(`^(.+)-[0-9]{14}$`)

func (r *LocationReconciler) createSynced(ctx context.Context, loc *cairnv1.BackupLocation, sn *snapshot.Snapshot, m *layout.Manifest) error {
	name := backup.Name(sn)
	labels := map[string]string{cairnv1.LabelLocation: loc.Name, cairnv1.LabelSynced: "true"}
	if s := sn.Labels[layout.LabelSchedule]; s != "" {
		labels[cairnv1.LabelSchedule] = s
	} else if mm := scheduledName.FindStringSubmatch(name); mm != nil && len(validation.IsValidLabelValue(mm[1])) == 0 {
		labels[cairnv1.LabelSchedule] = mm[1]
	}
	sel := m.Selection
	b := &cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: loc.Namespace, Labels: labels, Finalizers: []string{Finalizer}},
		Spec: cairnv1.BackupSpec{
			IncludedNamespaces: sel.IncludeNamespaces, ExcludedNamespaces: sel.ExcludeNamespaces,
			IncludedResources: sel.IncludeResources, ExcludedResources: sel.ExcludeResources,
			LabelSelector: sel.Selector, IncludeClusterResources: sel.IncludeClusterResources,
			PlatformNamespaces: sel.PlatformNamespaces, OptOutLabel: sel.OptOutLabel,
			StorageLocation: loc.Name,
		},
	}
	if d, err := time.ParseDuration(m.TTL); err == nil {
		b.Spec.TTL = &metav1.Duration{Duration: d}
	} else {
		b.Spec.TTL = &metav1.Duration{} // it never expires
	}
	if err := r.c.Create(ctx, b); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("re-create backup %s: %w", name, err)
	}
	before := b.DeepCopy()
	st := &b.Status
	st.Phase = cairnv1.PhaseCompleted
	switch {
	case m.Phase == layout.PhasePartiallyFailed && m.Source == nil:
		st.Phase = cairnv1.PhasePartiallyFailed
		st.FailureReason = partialReason(m)
	case m.Phase == layout.PhasePartiallyFailed, m.Phase == layout.PhaseFailed:
		// An imported backup keeps the phase and reason its tool gave it.
		st.Phase = cairnv1.Phase(m.Phase)
		st.FailureReason = strings.Join(m.Errors, "; ")
	}
	st.StorageLocation, st.SnapshotID = loc.Name, sn.ID
	start, end := metav1.NewTime(m.Start), metav1.NewTime(m.End)
	st.StartTimestamp, st.CompletionTimestamp = &start, &end
	if sn.Expires != nil {
		exp := metav1.NewTime(*sn.Expires)
		st.Expiration = &exp
	}
	st.Items, st.Warnings, st.Errors = m.Items, len(m.Warnings), len(m.Errors)
	st.Namespaces = manifestNamespaces(m)
	st.NamespaceItems = manifestCounts(m)
	setReady(&st.Conditions, b.Generation, st.Phase == cairnv1.PhaseCompleted, string(st.Phase),
		fmt.Sprintf("re-created from the repository of BackupLocation %s (snapshot %s)", loc.Name, sn.ShortID()))
	return statuspatch.Outcome(ctx, r.c, b, before)
}

// prune frees the data of forgotten backups under the exclusive lock.
func (r *LocationReconciler) prune(ctx context.Context, rp *repo.Repository) (*prune.Report, error) {
	var rep *prune.Report
	err := rp.WithLock(ctx, repo.Exclusive, "prune", func(ctx context.Context) error {
		var err error
		rep, err = prune.Run(ctx, rp, prune.Options{Now: r.now})
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return rep, err
}
