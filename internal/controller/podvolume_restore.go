package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// volumeRestore is the pod volume part of one Restore. The cluster restore
// calls transform for every object: a standalone Pod, or the pod template
// of a Deployment, StatefulSet, ReplicaSet, DaemonSet or Job, whose volumes
// have data in the backup gets the restore-wait init container. Then, as
// the restored pods are scheduled, a PodVolumeRestore is created for each
// of their volumes (await).
//
// The data of a PVC-backed volume is found by the claim's name in the
// backup's namespace (namespace mapping keeps claim names), that of an
// emptyDir by the workload and the volume's name.
type volumeRestore struct {
	rs       *cairnv1.Restore
	loc      string
	wait     podvolume.Wait
	byPVC    map[string]string // "<ns>/<claim>" → snapshot ID
	byOwner  map[string]string // "<ns>/<Kind>/<name>/<volume>" → snapshot ID
	mapping  map[string]string
	mu       sync.Mutex
	expected map[string]bool // "<target ns>/<Kind>/<name>" of prepared workloads
}

func newVolumeRestore(rs *cairnv1.Restore, loc string, image string, deadline time.Time, snaps []*snapshot.Snapshot) *volumeRestore {
	v := &volumeRestore{
		rs: rs, loc: loc, mapping: rs.Spec.NamespaceMapping,
		wait:     podvolume.Wait{Restore: rs.Name, Image: image, Deadline: deadline},
		byPVC:    map[string]string{},
		byOwner:  map[string]string{},
		expected: map[string]bool{},
	}
	for _, sn := range snaps { // oldest first: the newest of a key wins
		l := sn.Labels
		ns := l[podvolume.LabelNamespace]
		if pvc := l[podvolume.LabelPVC]; pvc != "" {
			v.byPVC[ns+"/"+pvc] = sn.ID
		}
		v.byOwner[ns+"/"+l[podvolume.LabelOwner]+"/"+l[podvolume.LabelVolume]] = sn.ID
	}
	return v
}

// snapshotFor returns the snapshot of volume vol of a pod of workload
// owner ("<Kind>/<name>") from backup namespace ns, or "".
func (v *volumeRestore) snapshotFor(ns, owner string, vol corev1.Volume) string {
	switch {
	case vol.PersistentVolumeClaim != nil:
		return v.byPVC[ns+"/"+vol.PersistentVolumeClaim.ClaimName]
	case vol.EmptyDir != nil:
		return v.byOwner[ns+"/"+owner+"/"+vol.Name]
	}
	return ""
}

// transform is clusterrestore.Options.Transform.
func (v *volumeRestore) transform(group, kind, ns string, obj map[string]any) error {
	path, ok := podvolume.TemplatePath(group, kind)
	if !ok || len(v.byOwner) == 0 {
		return nil
	}
	u := unstructured.Unstructured{Object: obj}
	if kind == "Pod" && metav1.GetControllerOf(&u) != nil {
		return nil // made by its controller, whose template is prepared
	}
	vols, err := podvolume.PodVolumes(obj, path)
	if err != nil {
		return err
	}
	owner := kind + "/" + u.GetName()
	var wait []string
	for _, vol := range vols {
		if v.snapshotFor(ns, owner, vol) != "" {
			wait = append(wait, vol.Name)
		}
	}
	if len(wait) == 0 {
		return nil
	}
	w := v.wait
	w.Source = ns + "/" + owner
	if err := podvolume.Inject(obj, path, wait, w); err != nil {
		return err
	}
	v.mu.Lock()
	v.expected[u.GetNamespace()+"/"+owner] = true
	v.mu.Unlock()
	return nil
}

// restoreVolumes creates the PodVolumeRestores of the pods of the
// workloads the cluster restore created (rep) and waits for them, bounded
// by VolumeTimeout.
func (r *RestoreReconciler) restoreVolumes(ctx context.Context, log logr.Logger, v *volumeRestore, rep *clusterrestore.Report) (*cairnv1.VolumeSummary, string) {
	sum := &cairnv1.VolumeSummary{}
	want := map[string]bool{} // workloads created by this restore, not yet seen with a pod
	nss := map[string]bool{}
	for _, it := range rep.Items {
		key := it.Namespace + "/" + it.Kind + "/" + it.Name
		if it.Action == clusterrestore.Created && v.expected[key] {
			want[key] = true
			nss[it.Namespace] = true
		}
	}
	if len(want) == 0 {
		return nil, ""
	}
	deadline := time.Now().Add(r.o.VolumeTimeout)
	var names []string
	made := map[string]bool{}
	for len(want) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		for ns := range nss {
			var pods corev1.PodList
			if err := r.api.List(ctx, &pods, client.InNamespace(ns)); err != nil {
				log.Info("list restored pods", "namespace", ns, "error", err.Error())
				continue
			}
			for i := range pods.Items {
				pod := &pods.Items[i]
				name, vols := podvolume.WaitVolumes(pod)
				if name != v.rs.Name || pod.Spec.NodeName == "" {
					continue
				}
				src := pod.Annotations[podvolume.AnnotationRestoreSource]
				srcNS, owner, _ := strings.Cut(src, "/")
				delete(want, pod.Namespace+"/"+owner)
				for _, vol := range vols {
					item := itemName(v.rs.Name, string(pod.UID), vol)
					if made[item] {
						continue
					}
					if err := r.createVolumeRestore(ctx, v, pod, vol, item, srcNS, owner); err != nil {
						sum.Failed = append(sum.Failed, fmt.Sprintf("%s/%s volume %s: %v", pod.Namespace, pod.Name, vol, err))
					} else {
						names = append(names, item)
					}
					made[item] = true
				}
			}
		}
		if len(want) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(volumePoll):
			}
		}
	}
	for key := range want {
		sum.Missed = append(sum.Missed, fmt.Sprintf("%s: no pod of it was scheduled within %s", key, r.o.VolumeTimeout))
	}
	sort.Strings(sum.Missed)
	log.Info("restoring pod volumes", "restore", v.rs.Name, "volumes", len(names))
	r.awaitVolumes(ctx, names, sum, func(ctx context.Context, name string) (*cairnv1.VolumeStatus, string, error) {
		var p cairnv1.PodVolumeRestore
		err := r.api.Get(ctx, client.ObjectKey{Namespace: r.o.Namespace, Name: name}, &p)
		return &p.Status, fmt.Sprintf("%s/%s volume %s (node %s)", p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume, p.Spec.Node), err
	})
	return sum, volumeReason(sum, "restored")
}

func (r *RestoreReconciler) createVolumeRestore(ctx context.Context, v *volumeRestore, pod *corev1.Pod, vol, name, srcNS, owner string) error {
	snap := ""
	for _, pv := range pod.Spec.Volumes {
		if pv.Name == vol {
			snap = v.snapshotFor(srcNS, owner, pv)
		}
	}
	p := &cairnv1.PodVolumeRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.o.Namespace, Name: name, Labels: map[string]string{cairnv1.LabelNode: labelOr(pod.Spec.NodeName)}},
		Spec: cairnv1.PodVolumeRestoreSpec{
			RestoreName: v.rs.Name, Node: pod.Spec.NodeName, Volume: vol, SnapshotID: snap, StorageLocation: v.loc,
			Pod: cairnv1.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		},
	}
	if len(validation.IsValidLabelValue(v.rs.Name)) == 0 {
		p.Labels[cairnv1.LabelRestore] = v.rs.Name
	}
	if err := controllerutil.SetOwnerReference(v.rs, p, r.c.Scheme()); err != nil {
		return err
	}
	if err := r.c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
