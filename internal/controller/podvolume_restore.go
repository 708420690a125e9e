package controller

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
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
// of their volumes (await), until every workload has as many pods as it
// runs (a StatefulSet makes its second pod only once the first is ready).
//
// The data of a PVC-backed volume is found by the claim's name in the
// backup's namespace (namespace mapping keeps claim names; a StatefulSet's
// claims are "<template>-<name>-<ordinal>"), that of an emptyDir by the
// workload and the volume's name. A claim that several restored pods mount
// is written once: the other pods' work items wait for that one.
type volumeRestore struct {
	rs       *cairnv1.Restore
	loc      string
	wait     podvolume.Wait
	byPVC    map[string]string // "<ns>/<claim>" → snapshot ID
	byOwner  map[string]string // "<ns>/<Kind>/<name>/<volume>" → snapshot ID
	mapping  map[string]string
	mu       sync.Mutex
	expected map[string]int // "<target ns>/<Kind>/<name>" of prepared workloads → pods it runs (podvolume.DesiredPods)
}

func newVolumeRestore(rs *cairnv1.Restore, loc string, image string, deadline time.Time, snaps []*snapshot.Snapshot) *volumeRestore {
	v := &volumeRestore{
		rs: rs, loc: loc, mapping: rs.Spec.NamespaceMapping,
		wait:     podvolume.Wait{Restore: rs.Name, Image: image, Deadline: deadline},
		byPVC:    map[string]string{},
		byOwner:  map[string]string{},
		expected: map[string]int{},
	}
	for _, sn := range snaps { // oldest first: the newest of a key wins
		l := sn.Labels
		ns := l[podvolume.LabelNamespace]
		if !v.restores(ns) {
			continue // a namespace this restore does not restore: no pod gets its data
		}
		if pvc := l[podvolume.LabelPVC]; pvc != "" {
			v.byPVC[ns+"/"+pvc] = sn.ID
		}
		v.byOwner[ns+"/"+l[podvolume.LabelOwner]+"/"+l[podvolume.LabelVolume]] = sn.ID
	}
	return v
}

// restores reports whether the restore selects backup namespace ns.
func (v *volumeRestore) restores(ns string) bool {
	in := len(v.rs.Spec.IncludedNamespaces) == 0
	for _, p := range v.rs.Spec.IncludedNamespaces {
		if ok, _ := path.Match(p, ns); ok {
			in = true
		}
	}
	for _, p := range v.rs.Spec.ExcludedNamespaces {
		if ok, _ := path.Match(p, ns); ok {
			return false
		}
	}
	return in
}

// sourceOf returns the backup namespace and the workload
// ("<Kind>/<name>") whose volume data pod is to get, from its
// restore-source annotation; ok is false when that names a namespace this
// restore does not restore into the pod's own. The annotation is written
// by whoever may create pods in the namespace: it is not trusted to reach
// another namespace's data.
func (v *volumeRestore) sourceOf(pod *corev1.Pod) (ns, owner string, ok bool) {
	ns, owner, _ = strings.Cut(pod.Annotations[podvolume.AnnotationRestoreSource], "/")
	return ns, owner, v.restores(ns) && v.target(ns) == pod.Namespace
}

// target returns the namespace backup namespace ns is restored into.
func (v *volumeRestore) target(ns string) string {
	if t, ok := v.mapping[ns]; ok {
		return t
	}
	return ns
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
	listed := map[string]bool{}
	for _, vol := range vols {
		listed[vol.Name] = true
		if v.snapshotFor(ns, owner, vol) != "" {
			wait = append(wait, vol.Name)
		}
	}
	if group == "apps" && kind == "StatefulSet" {
		// Its pods' claims come from the templates: the backup knows them
		// by the StatefulSet and the volume's name.
		for _, name := range podvolume.ClaimTemplates(obj) {
			if !listed[name] && v.byOwner[ns+"/"+owner+"/"+name] != "" {
				wait = append(wait, name)
			}
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
	v.expected[u.GetNamespace()+"/"+owner] = podvolume.DesiredPods(kind, obj)
	v.mu.Unlock()
	return nil
}

// restoreVolumes creates the PodVolumeRestores of the pods of the
// workloads the cluster restore created (rep), until each workload has as
// many pods as it runs, and waits for them; both bounded by VolumeTimeout.
// It looks at the restored namespaces' pods each time one changes (a
// watch of each namespace's pods wakes op) and at the work items each time
// one changes (the controller's watch wakes op). ok is false when ctx
// ended first.
func (r *RestoreReconciler) restoreVolumes(ctx context.Context, log logr.Logger, op *operation, v *volumeRestore, rep *clusterrestore.Report) (_ *cairnv1.VolumeSummary, _ string, ok bool) {
	sum := &cairnv1.VolumeSummary{}
	want := map[string]int{} // workloads created by this restore → pods they run
	nss := map[string]bool{}
	for _, it := range rep.Items {
		key := it.Namespace + "/" + it.Kind + "/" + it.Name
		if n, ok := v.expected[key]; ok && it.Action == clusterrestore.Created {
			want[key] = n
			nss[it.Namespace] = true
		}
	}
	if len(want) == 0 {
		return nil, "", true
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := r.watchPods(wctx, op, nss); err != nil {
		log.Info("watch restored pods; reading them every recheck instead", "error", err.Error())
	}
	deadline := time.Now().Add(r.o.VolumeTimeout)
	var names []string
	made := map[string]bool{}
	seen := map[string]map[types.UID]bool{} // workload → its pods with work items
	claims := map[string]string{}           // "<ns>/<claim>" → the work item that writes its data
	for ctx.Err() == nil {
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
				srcNS, owner, ok := v.sourceOf(pod)
				if !ok {
					continue
				}
				key := pod.Namespace + "/" + owner
				if seen[key] == nil {
					seen[key] = map[types.UID]bool{}
				}
				seen[key][pod.UID] = true
				for _, vol := range vols {
					item := itemName(v.rs.Name, string(pod.UID), vol)
					if made[item] {
						continue
					}
					if err := r.createVolumeRestore(ctx, v, pod, vol, item, srcNS, owner, claims); err != nil {
						sum.Failed = append(sum.Failed, fmt.Sprintf("%s/%s volume %s: %v", pod.Namespace, pod.Name, vol, err))
					} else {
						names = append(names, item)
					}
					made[item] = true
				}
			}
		}
		if r.allScheduled(ctx, want, seen) || !time.Now().Before(deadline) {
			break
		}
		op.wait(ctx, min(r.o.Recheck, time.Until(deadline)+time.Millisecond))
		// Events come in bursts (a pod is created, scheduled, started):
		// one read for a burst.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return nil, "", false
	}
	stopWatch()
	for key, n := range want {
		switch got := len(seen[key]); {
		case got == 0 && n != 0:
			sum.Missed = append(sum.Missed, fmt.Sprintf("%s: no pod of it was scheduled within %s", key, r.o.VolumeTimeout))
		case n > 0 && got < n:
			sum.Missed = append(sum.Missed, fmt.Sprintf("%s: %d of its %d pods were scheduled within %s; the others wait until their deadline and start without the backup's data", key, got, n, r.o.VolumeTimeout))
		}
	}
	sort.Strings(sum.Missed)
	sum.Planned, sum.WorkItems = true, len(names)
	log.Info("restoring pod volumes", "restore", v.rs.Name, "volumes", len(names))
	mine := map[string]bool{}
	for _, n := range names {
		mine[n] = true
	}
	if !r.awaitItems(ctx, op, sum, func(ctx context.Context, rd client.Reader) ([]workItem, error) {
		var l cairnv1.PodVolumeRestoreList
		if err := rd.List(ctx, &l, client.InNamespace(r.o.Namespace)); err != nil {
			return nil, err
		}
		var out []workItem
		for i := range l.Items {
			p := &l.Items[i]
			if !mine[p.Name] || !ownedBy(p, v.rs) {
				continue
			}
			out = append(out, newWorkItem(p.Name, p.Spec.Pod, p.Spec.Volume, p.Spec.Node, p.Status))
		}
		return out, nil
	}, nil, nil) {
		return nil, "", false
	}
	sort.Strings(sum.Failed)
	return sum, volumeReason(sum, "restored"), true
}

// watchPods watches the pods of the namespaces nss until ctx ends, waking
// op at each change; a watch the API server closes is opened again.
func (r *RestoreReconciler) watchPods(ctx context.Context, op *operation, nss map[string]bool) error {
	cs, err := kubernetes.NewForConfig(r.o.Cluster)
	if err != nil {
		return err
	}
	for ns := range nss {
		go func() {
			for ctx.Err() == nil {
				w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					continue
				}
				for range w.ResultChan() {
					op.poke()
				}
				w.Stop()
			}
		}()
	}
	return nil
}

// allScheduled reports whether every workload in want has as many pods in
// seen as it runs; a DaemonSet's count comes from its status.
func (r *RestoreReconciler) allScheduled(ctx context.Context, want map[string]int, seen map[string]map[types.UID]bool) bool {
	for key, n := range want {
		if n == podvolume.PodsUnknown {
			n = r.daemonSetPods(ctx, key)
		}
		if n < 0 || len(seen[key]) < n {
			return false
		}
	}
	return true
}

// daemonSetPods returns how many pods the DaemonSet "<ns>/DaemonSet/<name>"
// runs, or PodsUnknown until its controller has seen it.
func (r *RestoreReconciler) daemonSetPods(ctx context.Context, key string) int {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return podvolume.PodsUnknown
	}
	var ds appsv1.DaemonSet
	if err := r.api.Get(ctx, client.ObjectKey{Namespace: parts[0], Name: parts[2]}, &ds); err != nil || ds.Status.ObservedGeneration < ds.Generation {
		return podvolume.PodsUnknown
	}
	return int(ds.Status.DesiredNumberScheduled)
}

// createVolumeRestore creates the work item name for volume vol of pod. A
// claim already written by another item of this restore (claims) is not
// written again: the item waits for that one.
func (r *RestoreReconciler) createVolumeRestore(ctx context.Context, v *volumeRestore, pod *corev1.Pod, vol, name, srcNS, owner string, claims map[string]string) error {
	snap, claim := "", ""
	for _, pv := range pod.Spec.Volumes {
		if pv.Name == vol {
			snap = v.snapshotFor(srcNS, owner, pv)
			if pv.PersistentVolumeClaim != nil {
				claim = pod.Namespace + "/" + pv.PersistentVolumeClaim.ClaimName
			}
		}
	}
	from := ""
	if claim != "" && snap != "" {
		if first, ok := claims[claim]; ok {
			from = first
		} else {
			claims[claim] = name
		}
	}
	p := &cairnv1.PodVolumeRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.o.Namespace, Name: name, Labels: map[string]string{cairnv1.LabelNode: labelOr(pod.Spec.NodeName)}},
		Spec: cairnv1.PodVolumeRestoreSpec{
			RestoreName: v.rs.Name, Node: pod.Spec.NodeName, Volume: vol, SnapshotID: snap, StorageLocation: v.loc, DataFrom: from,
			Verify: v.rs.Labels[cairnv1.LabelDrill] != "", // a drill proves the data came back
			Pod:    cairnv1.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
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
