package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// RestoreReconciler fills the volumes of restored pods on its node.
type RestoreReconciler struct {
	*base
	slots slots
}

func (r *RestoreReconciler) setup(mgr ctrl.Manager) error {
	return r.watchItems(mgr, "podvolumerestore", &cairnv1.PodVolumeRestore{}, func(o client.Object) bool {
		p, ok := o.(*cairnv1.PodVolumeRestore)
		return ok && p.Spec.Node == r.o.Node
	}, r)
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
	// The cache can be behind this agent's own last write: a reconcile
	// queued during a restore that has just ended would find it still
	// InProgress and restore again, over the volume the pod may be
	// using already. The API server has the outcome.
	if err := r.api.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if p.Status.Phase.Finished() {
		return ctrl.Result{}, nil
	}
	read := p.DeepCopy()
	pod, err := r.pod(ctx, p.Spec.Pod)
	if apierrors.IsNotFound(err) || errors.Is(err, errGone) {
		return ctrl.Result{}, r.finishFrom(ctx, &p, read, err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	dir, err := r.volumeDir(ctx, pod, p.Spec.Volume)
	if err != nil {
		return ctrl.Result{}, r.finishFrom(ctx, &p, read, err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return ctrl.Result{RequeueAfter: pollInterval}, nil // not mounted yet
	}
	// An earlier attempt got this far (the agent stopped, or its outcome
	// could not be written): the folders it made are this restore's own.
	again := p.Status.Phase == cairnv1.VolumeInProgress
	if !again {
		p.Status.Phase = cairnv1.VolumeInProgress
		p.Status.StartTimestamp = r.metaNow()
		// A decision from what was read: a Conflict reads again.
		if err := statuspatch.Transition(ctx, r.c, &p, read); err != nil {
			return ctrl.Result{}, err
		}
		read = p.DeepCopy()
	}
	write := true
	if p.Spec.DataFrom != "" {
		done, ok, why := r.source(ctx, &p)
		if !done {
			return ctrl.Result{RequeueAfter: pollInterval}, nil
		}
		write = !ok
		p.Status.Message = why
	}
	return ctrl.Result{}, r.finishFrom(ctx, &p, read, r.restore(ctx, &p, pod, dir, write, again))
}

// source looks at the work item that writes p's claim for another pod:
// whether it has finished, whether it wrote the data, and what to say.
// When it failed (or is gone), p writes the data itself.
func (r *RestoreReconciler) source(ctx context.Context, p *cairnv1.PodVolumeRestore) (done, ok bool, why string) {
	var src cairnv1.PodVolumeRestore
	err := r.c.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.DataFrom}, &src)
	switch {
	case apierrors.IsNotFound(err):
		return true, false, "the work item that was to write this claim's data, " + p.Spec.DataFrom + ", is gone: written here"
	case err != nil:
		return false, false, ""
	case src.Status.Phase == cairnv1.VolumeCompleted:
		return true, true, "the claim's data was written by " + p.Spec.DataFrom + " (another pod that mounts it); pod released"
	case src.Status.Phase == cairnv1.VolumeFailed:
		return true, false, "the claim's data was to be written by " + p.Spec.DataFrom + ", which failed: written here"
	}
	return false, false, ""
}

// finishFrom records the outcome of p (read: p as read) as a status patch
// without a resourceVersion: a change to the work item meanwhile cannot
// make the outcome be lost and the restore run again.
func (r *RestoreReconciler) finishFrom(ctx context.Context, p, read *cairnv1.PodVolumeRestore, err error) error {
	p.Status.CompletionTimestamp = r.metaNow()
	if err != nil {
		p.Status.Phase = cairnv1.VolumeFailed
		p.Status.Message = err.Error()
		ctrl.LoggerFrom(ctx).Info("volume restore failed", "podvolumerestore", p.Name, "error", err.Error())
	} else {
		p.Status.Phase = cairnv1.VolumeCompleted
	}
	return statuspatch.Outcome(ctx, r.c, p, read)
}

// restore writes the snapshot into dir (when write), then the marker that
// releases the pod's init container. A failed restore writes no marker: the
// pod waits until its deadline, and the Restore reports the volume failed.
//
// again says an earlier attempt of this restore ran: folders that exist
// are then its own and get the snapshot's metadata (restorer.Options.Owned).
func (r *RestoreReconciler) restore(ctx context.Context, p *cairnv1.PodVolumeRestore, pod *corev1.Pod, dir string, write, again bool) error {
	if p.Spec.SnapshotID != "" && write {
		release, err := r.slots.take(ctx)
		if err != nil {
			return err
		}
		defer release()
		err = r.withLockedRepo(ctx, p.Spec.StorageLocation, "restore of volume "+p.Name, func(ctx context.Context, rp *repo.Repository) error {
			sn, err := snapshot.Load(ctx, rp, p.Spec.SnapshotID)
			if err != nil {
				return fmt.Errorf("volume snapshot %s: %w", p.Spec.SnapshotID, err)
			}
			// The volume's top folder is the snapshot's root: it gets
			// its owner and mode back (a database refuses a data folder
			// with others'), through its descriptor like every entry.
			var prog restorer.Progress
			res, err := restorer.Run(ctx, rp, sn, restorer.Options{Target: dir, RootMeta: true, Owned: again, Verify: p.Spec.Verify, Progress: &prog})
			p.Status.Progress = cairnv1.VolumeProgress{Files: prog.Files.Load(), Bytes: prog.Bytes.Load()}
			if res != nil {
				p.Status.Message = strings.TrimPrefix(p.Status.Message+"; ", "; ") + fmt.Sprintf("%d files, %d bytes restored", res.Files, res.Bytes)
				if p.Spec.Verify && err == nil {
					p.Status.Message += ", each read back and checked against the snapshot"
				}
			}
			return err
		})
		if err != nil {
			return err
		}
	} else if p.Spec.SnapshotID == "" {
		p.Status.Message = "the backup holds no data for this volume; the pod was released"
	}
	p.Status.SnapshotID = p.Spec.SnapshotID
	// The restorer has fsynced every file and folder it wrote: the pod
	// starts on data that is on disk.
	marker, err := writeMarker(dir, p.Spec.Pod.UID)
	if err != nil {
		return fmt.Errorf("release the pod's init container: %w", err)
	}
	go r.removeMarker(ctx, pod, marker)
	return nil
}

// markerWait bounds how long the agent waits for a released pod's init
// container to end before it stops looking after its marker.
const markerWait = 10 * time.Minute

// removeMarker removes the marker once the pod's init container has ended.
// The init container removes it itself, but cannot when the pod runs as a
// user without write access to the volume's top folder; the marker would
// stay in the volume (backups leave it out, but the application sees it).
func (b *base) removeMarker(ctx context.Context, pod *corev1.Pod, marker string) {
	ctx, cancel := context.WithTimeout(ctx, markerWait)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var now corev1.Pod
		err := b.api.Get(ctx, client.ObjectKeyFromObject(pod), &now)
		gone := apierrors.IsNotFound(err) || (err == nil && now.UID != pod.UID)
		if err != nil && !gone {
			continue
		}
		if !gone && !initEnded(&now) {
			continue
		}
		if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) && !gone {
			ctrl.LoggerFrom(ctx).Info("restore marker not removed", "path", marker, "error", err.Error())
		}
		return
	}
}

// initEnded reports whether pod's restore-wait init container has ended.
func initEnded(pod *corev1.Pod) bool {
	if ended, known := waitState(pod); known {
		return ended
	}
	return pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// waitState returns whether pod's restore-wait init container has ended,
// and whether the pod's status says (it does once the kubelet started it).
func waitState(pod *corev1.Pod) (ended, known bool) {
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == podvolume.InitContainerName {
			return s.State.Terminated != nil || s.State.Running == nil && s.LastTerminationState.Terminated != nil, true
		}
	}
	return false, false
}
