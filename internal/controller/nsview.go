package controller

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=namespacebackups,verbs=get;list;watch;create;update;delete

// ViewReconciler keeps the NamespaceBackup views of each Backup: one in
// every namespace the Backup holds objects of (status.namespaces) that
// exists, while the Backup is restorable (Completed or PartiallyFailed,
// not being deleted), with that namespace's counts. A view whose Backup is
// gone is deleted; a view someone changed or deleted is written again; a
// namespace created later (restored by an administrator) gets the views of
// the Backups that hold it.
type ViewReconciler struct {
	base
}

func (r *ViewReconciler) setup(mgr ctrl.Manager) error {
	toBackup := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		v, ok := o.(*cairnv1.NamespaceBackup)
		if !ok || v.Status.BackupName == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.o.Namespace, Name: v.Status.BackupName}}}
	})
	created := builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
	return ctrl.NewControllerManagedBy(mgr).Named("namespacebackup").
		For(&cairnv1.Backup{}).
		Watches(&cairnv1.NamespaceBackup{}, toBackup).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.holding), created).
		Complete(r)
}

// holding returns the Backups that hold namespace o: a namespace that
// appears (restored, or made again) gets their views.
func (r *ViewReconciler) holding(ctx context.Context, o client.Object) []reconcile.Request {
	var l cairnv1.BackupList
	if err := r.c.List(ctx, &l, client.InNamespace(r.o.Namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, b := range l.Items {
		if slices.Contains(b.Status.Namespaces, o.GetName()) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Name}})
		}
	}
	return out
}

// Reconcile makes the views of Backup req what it holds.
func (r *ViewReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Namespace != r.o.Namespace {
		return ctrl.Result{}, nil
	}
	want := map[string]cairnv1.NamespaceBackupStatus{}
	var b cairnv1.Backup
	switch err := r.c.Get(ctx, req.NamespacedName, &b); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, err
	default:
		var err error
		if want, err = r.views(ctx, &b); err != nil {
			return ctrl.Result{}, err
		}
	}
	var have cairnv1.NamespaceBackupList
	if err := r.c.List(ctx, &have, client.MatchingLabels{cairnv1.LabelBackup: labelOr(req.Name)}); err != nil {
		return ctrl.Result{}, err
	}
	for i := range have.Items {
		v := &have.Items[i]
		if v.Name != req.Name || v.Status.BackupName != req.Name {
			continue // another backup's whose name is no label value
		}
		st, ok := want[v.Namespace]
		delete(want, v.Namespace)
		switch {
		case !ok:
			if err := r.c.Delete(ctx, v); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("delete view %s/%s: %w", v.Namespace, v.Name, err)
			}
		case !apiequality.Semantic.DeepEqual(v.Status, st) || v.Labels[cairnv1.LabelBackup] != labelOr(req.Name):
			v.Status = st
			if v.Labels == nil {
				v.Labels = map[string]string{}
			}
			v.Labels[cairnv1.LabelBackup] = labelOr(req.Name)
			if err := r.c.Update(ctx, v); err != nil {
				return ctrl.Result{}, fmt.Errorf("update view %s/%s: %w", v.Namespace, v.Name, err)
			}
		}
	}
	for ns, st := range want {
		v := &cairnv1.NamespaceBackup{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: req.Name, Labels: map[string]string{cairnv1.LabelBackup: labelOr(req.Name)}},
			Status:     st,
		}
		if err := r.c.Create(ctx, v); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("create view %s/%s: %w", ns, req.Name, err)
		}
	}
	return ctrl.Result{}, nil
}

// views returns the views b should have, by namespace.
func (r *ViewReconciler) views(ctx context.Context, b *cairnv1.Backup) (map[string]cairnv1.NamespaceBackupStatus, error) {
	out := map[string]cairnv1.NamespaceBackupStatus{}
	restorable := b.Status.Phase == cairnv1.PhaseCompleted || b.Status.Phase == cairnv1.PhasePartiallyFailed
	if !restorable || b.DeletionTimestamp != nil {
		return out, nil
	}
	volumes := map[string]int{}
	var items cairnv1.PodVolumeBackupList
	if err := r.c.List(ctx, &items, client.InNamespace(r.o.Namespace)); err != nil {
		return nil, err
	}
	for _, it := range items.Items {
		if it.Spec.BackupName == b.Name && it.Status.Phase == cairnv1.VolumeCompleted {
			volumes[it.Spec.Pod.Namespace]++
		}
	}
	for _, ns := range b.Status.Namespaces {
		if slices.Contains([]string{"", r.o.Namespace}, ns) {
			continue // the controller's own namespace has no self-service
		}
		var n corev1.Namespace // from the cache the namespace watch fills
		if err := r.c.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			if apierrors.IsNotFound(err) {
				continue // restored by an administrator, or not at all
			}
			return nil, err
		}
		if n.DeletionTimestamp != nil {
			continue
		}
		out[ns] = cairnv1.NamespaceBackupStatus{
			BackupName: b.Name, Schedule: b.Labels[cairnv1.LabelSchedule], Phase: b.Status.Phase,
			StorageLocation: b.Status.StorageLocation, StartTimestamp: b.Status.StartTimestamp,
			CompletionTimestamp: b.Status.CompletionTimestamp, Expiration: b.Status.Expiration,
			Items: b.Status.NamespaceItems[ns], Volumes: volumes[ns],
		}
	}
	return out, nil
}
