package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// RestoreReconciler fills the volumes of restored pods on its node.
type RestoreReconciler struct{ *base }

func (r *RestoreReconciler) setup(mgr ctrl.Manager) error {
	mine := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*cairnv1.PodVolumeRestore)
		return ok && p.Spec.Node == r.o.Node
	})
	return ctrl.NewControllerManagedBy(mgr).Named("podvolumerestore").
		For(&cairnv1.PodVolumeRestore{}, builder.WithPredicates(mine)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.o.Concurrency}).
		Complete(r)
}

// Reconcile restores a PodVolumeRestore's volume once the kubelet mounted
// it. Restoring again after an interruption is safe: the same files are
// written again.
func (r *RestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p cairnv1.PodVolumeRestore
	if err := r.c.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if p.Spec.Node != r.o.Node || p.Status.Phase.Finished() {
		return ctrl.Result{}, nil
	}
	pod, err := r.pod(ctx, p.Spec.Pod)
	if apierrors.IsNotFound(err) || errors.Is(err, errGone) {
		return ctrl.Result{}, r.finish(ctx, &p, err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	dir, err := r.volumeDir(ctx, pod, p.Spec.Volume)
	if err != nil {
		return ctrl.Result{}, r.finish(ctx, &p, err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return ctrl.Result{RequeueAfter: pollInterval}, nil // not mounted yet
	}
	if p.Status.Phase != cairnv1.VolumeInProgress {
		p.Status.Phase = cairnv1.VolumeInProgress
		p.Status.StartTimestamp = r.metaNow()
		if err := r.c.Status().Update(ctx, &p); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, r.finish(ctx, &p, r.restore(ctx, &p, dir))
}

func (r *RestoreReconciler) finish(ctx context.Context, p *cairnv1.PodVolumeRestore, err error) error {
	p.Status.CompletionTimestamp = r.metaNow()
	if err != nil {
		p.Status.Phase = cairnv1.VolumeFailed
		p.Status.Message = err.Error()
		ctrl.LoggerFrom(ctx).Info("volume restore failed", "podvolumerestore", p.Name, "error", err.Error())
	} else {
		p.Status.Phase = cairnv1.VolumeCompleted
	}
	return r.c.Status().Update(ctx, p)
}

// restore writes the snapshot into dir, then the marker that releases the
// pod's init container. A failed restore writes no marker: the pod waits
// until its deadline, and the Restore reports the volume failed.
func (r *RestoreReconciler) restore(ctx context.Context, p *cairnv1.PodVolumeRestore, dir string) error {
	if p.Spec.SnapshotID != "" {
		err := r.withRepo(ctx, p.Spec.StorageLocation, "restore of volume "+p.Name, func(rp *repo.Repository) error {
			sn, err := snapshot.Load(ctx, rp, p.Spec.SnapshotID)
			if err != nil {
				return fmt.Errorf("volume snapshot %s: %w", p.Spec.SnapshotID, err)
			}
			var prog restorer.Progress
			res, err := restorer.Run(ctx, rp, sn, restorer.Options{Target: dir, Progress: &prog})
			p.Status.Progress = cairnv1.VolumeProgress{Files: prog.Files.Load(), Bytes: prog.Bytes.Load()}
			if res != nil {
				p.Status.Message = fmt.Sprintf("%d files, %d bytes restored", res.Files, res.Bytes)
			}
			return err
		})
		if err != nil {
			return err
		}
	} else {
		p.Status.Message = "the backup holds no data for this volume; the pod was released"
	}
	p.Status.SnapshotID = p.Spec.SnapshotID
	marker := filepath.Join(dir, podvolume.MarkerName(p.Spec.Pod.UID))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return fmt.Errorf("release the pod's init container: %w", err)
	}
	return nil
}
