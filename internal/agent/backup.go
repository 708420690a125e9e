package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// BackupReconciler backs up the volumes of PodVolumeBackups for its node.
type BackupReconciler struct {
	*base
	slots slots
}

func (r *BackupReconciler) setup(mgr ctrl.Manager) error {
	return r.watchItems(mgr, "podvolumebackup", &cairnv1.PodVolumeBackup{}, func(o client.Object) bool {
		p, ok := o.(*cairnv1.PodVolumeBackup)
		return ok && p.Spec.Node == r.o.Node
	}, r)
}

// Reconcile runs a new PodVolumeBackup to its end.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p cairnv1.PodVolumeBackup
	if err := r.c.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Every status write is a patch of what changed since this read
	// (package statuspatch): labels or annotations edited meanwhile cannot
	// make the outcome of a long backup fail with a Conflict.
	read := p.DeepCopy()
	if p.Spec.Node != r.o.Node || p.Status.Phase.Finished() {
		return ctrl.Result{}, nil
	}
	if p.Status.Phase == cairnv1.VolumeInProgress {
		if r.startedHere(p.UID) {
			return ctrl.Result{}, nil // a stale read of our own work
		}
		// No one runs it: the agent that did was killed. Nothing of that
		// run was saved (a snapshot is written only at the end), so the
		// volume is backed up again, up to MaxVolumeAttempts runs. Both
		// are decisions from a read: if the item changed since, it is read
		// again.
		if p.Status.Attempts >= cairnv1.MaxVolumeAttempts {
			return ctrl.Result{}, r.finish(ctx, &p, read, statuspatch.Transition, fmt.Errorf(
				"the agent stopped during each of the %d runs of this volume's backup; nothing of it was saved (a snapshot is written only at the end): the next backup takes it afresh", p.Status.Attempts))
		}
		ctrl.LoggerFrom(ctx).Info("resuming a volume backup the agent left unfinished", "podvolumebackup", p.Name, "attempt", p.Status.Attempts+1)
	}
	pod, dir, err := r.mounted(ctx, &p)
	if err != nil {
		return ctrl.Result{}, r.finish(ctx, &p, read, statuspatch.Outcome, err)
	}
	release, err := r.slots.take(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	// InProgress is written while the repository is locked and brought up
	// to date; the volume is read only once it is written.
	r.markStarted(p.UID)
	p.Status.Phase = cairnv1.VolumeInProgress
	p.Status.Attempts++
	p.Status.Progress = cairnv1.VolumeProgress{}
	if p.Status.StartTimestamp == nil {
		p.Status.StartTimestamp = r.metaNow()
	}
	marked := r.markInProgress(ctx, &p, read)
	err = r.backup(ctx, &p, read, pod, dir, marked)
	release()
	if err := marked(); err != nil {
		return ctrl.Result{}, err // a conflict: the next reconcile starts again
	}
	return ctrl.Result{}, r.finish(ctx, &p, read, statuspatch.Outcome, err)
}

// markInProgress writes p's status (InProgress: a Transition from read,
// p as read) in the background; the returned func waits for the write and
// then updates p's resource version.
func (r *BackupReconciler) markInProgress(ctx context.Context, p, read *cairnv1.PodVolumeBackup) (wait func() error) {
	mark := p.DeepCopy()
	done := make(chan error, 1)
	go func() { done <- statuspatch.Transition(ctx, r.c, mark, read) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			if err = <-done; err == nil {
				p.ResourceVersion = mark.ResourceVersion
			}
		})
		return err
	}
}

// mounted returns p's pod and the folder of its volume on this node.
func (r *BackupReconciler) mounted(ctx context.Context, p *cairnv1.PodVolumeBackup) (*corev1.Pod, string, error) {
	pod, err := r.pod(ctx, p.Spec.Pod)
	if err != nil {
		return nil, "", err
	}
	dir, err := r.volumeDir(ctx, pod, p.Spec.Volume)
	if err != nil {
		return nil, "", err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, "", fmt.Errorf("volume %s of pod %s/%s is not mounted on node %s (no folder %s): %v", p.Spec.Volume, pod.Namespace, pod.Name, r.o.Node, dir, err)
	}
	return pod, dir, nil
}

// finish writes the outcome of p: the change of its status since before
// (p as read), with write (statuspatch.Outcome, or
// Transition for a decision taken from a read).
func (r *BackupReconciler) finish(ctx context.Context, p, before *cairnv1.PodVolumeBackup, write func(context.Context, client.Client, client.Object, client.Object) error, err error) error {
	p.Status.CompletionTimestamp = r.metaNow()
	if err != nil {
		p.Status.Phase = cairnv1.VolumeFailed
		p.Status.Message = err.Error()
		ctrl.LoggerFrom(ctx).Info("volume backup failed", "podvolumebackup", p.Name, "error", err.Error())
	} else {
		p.Status.Phase = cairnv1.VolumeCompleted
	}
	return write(ctx, r.c, p, before)
}

// backup reads the volume of pod in dir and writes its snapshot; p.Status
// gets the snapshot and the counts.
//
// marked waits until the work item is marked InProgress; nothing is read
// before. Progress is written as a patch of what changed since read.
func (r *BackupReconciler) backup(ctx context.Context, p, read *cairnv1.PodVolumeBackup, pod *corev1.Pod, dir string, marked func() error) error {
	labels := podvolume.SnapshotLabels(p.Spec.BackupName, pod.Namespace, pod.Name, p.Spec.Volume, p.Spec.PVC, p.Spec.Owner)
	return r.withLockedRepo(ctx, p.Spec.StorageLocation, "backup of volume "+p.Name, func(ctx context.Context, rp *repo.Repository) error {
		parent, err := r.newest(ctx, rp, podvolume.ParentLabels(pod.Namespace, p.Spec.Volume, p.Spec.PVC, p.Spec.Owner))
		if err != nil {
			return err
		}
		if err := marked(); err != nil {
			return err
		}
		var prog archiver.Progress
		opts := archiver.Options{
			Paths: []string{dir}, Excludes: markerExcludes(dir), Labels: labels,
			Host: r.o.Node, Parent: parent, Progress: &prog, Now: r.o.Now, Program: "cairn-agent",
		}
		if p.Spec.Expires != nil {
			opts.Expires = &p.Spec.Expires.Time
		}
		if err := rp.RetainNew(ctx, rp.Config().RetainUntil(r.o.Now(), opts.Expires)); err != nil {
			return fmt.Errorf("back up %s: object lock: %w", dir, err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			progress(r.o.ProgressInterval, stop, func() {
				p.Status.Progress = cairnv1.VolumeProgress{Files: prog.Files.Load(), Bytes: prog.Bytes.Load()}
				if err := statuspatch.Outcome(ctx, r.c, p, read); err != nil {
					ctrl.LoggerFrom(ctx).V(1).Info("progress not written", "error", err.Error())
				}
			})
		}()
		sn, err := archiver.Run(ctx, rp, opts)
		close(stop)
		<-done
		p.Status.Progress = cairnv1.VolumeProgress{Files: prog.Files.Load(), Bytes: prog.Bytes.Load()}
		if sn != nil {
			p.Status.SnapshotID = sn.ID
			if _, lerr := snapshot.Retain(ctx, rp, sn); lerr != nil {
				return fmt.Errorf("back up %s: snapshot %s saved, but %w", dir, sn.ShortID(), lerr)
			}
		}
		if err != nil && !(errors.Is(err, archiver.ErrPartial) && sn != nil) {
			return fmt.Errorf("back up %s: %w", dir, err)
		}
		if err != nil {
			p.Status.Message = "saved, but some entries could not be read: " + err.Error()
		} else if parent != nil {
			p.Status.Message = "incremental against snapshot " + parent.ShortID()
		}
		return nil
	})
}

// newest returns the newest snapshot with labels, or nil.
func (r *BackupReconciler) newest(ctx context.Context, rp *repo.Repository, labels map[string]string) (*snapshot.Snapshot, error) {
	all, err := r.snaps.List(ctx, rp)
	if err != nil {
		return nil, err
	}
	f := snapshot.Filter{Label: labels}
	for i := len(all) - 1; i >= 0; i-- {
		if f.Match(all[i]) {
			return all[i], nil
		}
	}
	return nil, nil
}

// pollInterval is how often a restore checks whether the kubelet mounted
// the pod's volume.
const pollInterval = time.Second
