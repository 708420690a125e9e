package agent

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
)

// ReleaseInterval is how often the agent looks for restored pods on its
// node that wait for a restore that has ended without them.
const ReleaseInterval = 10 * time.Second

// releaseLate runs until ctx ends, releasing late pods every interval.
//
// A restored workload keeps the restore-wait init container in its pod
// template. The controller creates work items for the pods it finds while
// the Restore runs; a pod made after that (a replacement for a pod that
// died, a scale-up) would wait for the init container's deadline — hours
// — for data nobody writes. Once the Restore has ended, the agent releases
// such pods on its node at once: their claims already hold the restored
// data (written through the earlier pods), and a new emptyDir starts
// empty, as it would without a restore.
func (b *base) releaseLate(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := b.releaseOnce(ctx); err != nil && ctx.Err() == nil {
			ctrl.LoggerFrom(ctx).Info("releasing restored pods", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// releaseOnce releases the pods of this node that wait for a Restore that
// has ended (or is gone) and has no work item for them.
func (b *base) releaseOnce(ctx context.Context) error {
	var pods corev1.PodList
	if err := b.api.List(ctx, &pods, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", b.o.Node)}); err != nil {
		return fmt.Errorf("list the pods of node %s: %w", b.o.Node, err)
	}
	var items map[types.UID]bool // pods with work items; read once needed
	ended := map[string]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		name, vols := podvolume.WaitVolumes(pod)
		if name == "" || len(vols) == 0 || !waiting(pod) {
			continue
		}
		if items == nil {
			var list cairnv1.PodVolumeRestoreList
			if err := b.c.List(ctx, &list, client.InNamespace(b.o.Namespace)); err != nil {
				return fmt.Errorf("list the work items: %w", err)
			}
			items = map[types.UID]bool{}
			for _, p := range list.Items {
				items[p.Spec.Pod.UID] = true
			}
		}
		if items[pod.UID] {
			continue // the controller took it: its work items release it
		}
		done, ok := ended[name]
		if !ok {
			var rs cairnv1.Restore
			err := b.api.Get(ctx, client.ObjectKey{Namespace: b.o.Namespace, Name: name}, &rs)
			switch {
			case apierrors.IsNotFound(err):
				done = true
			case err != nil:
				return fmt.Errorf("restore %s: %w", name, err)
			default:
				done = rs.Status.Phase.Finished()
			}
			ended[name] = done
		}
		if done {
			b.release(ctx, pod, vols, name)
		}
	}
	return nil
}

// waiting reports whether pod's restore-wait init container runs (not
// yet started: the next round).
func waiting(pod *corev1.Pod) bool {
	ended, known := waitState(pod)
	return pod.Status.Phase == corev1.PodPending && known && !ended
}

// release writes the markers pod waits for into its volumes.
func (b *base) release(ctx context.Context, pod *corev1.Pod, vols []string, restore string) {
	log := ctrl.LoggerFrom(ctx)
	for _, vol := range vols {
		dir, err := b.volumeDir(ctx, pod, vol)
		if err == nil {
			_, err = os.Stat(dir)
		}
		if err != nil {
			log.Info("late restored pod not released", "pod", pod.Namespace+"/"+pod.Name, "volume", vol, "error", err.Error())
			continue
		}
		marker, err := writeMarker(dir, pod.UID)
		if err != nil {
			log.Info("late restored pod not released", "pod", pod.Namespace+"/"+pod.Name, "volume", vol, "error", err.Error())
			continue
		}
		go b.removeMarker(ctx, pod, marker)
	}
	log.Info("released a pod made after its restore ended", "pod", pod.Namespace+"/"+pod.Name, "restore", restore)
}
