package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/hooks"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=podvolumebackups;podvolumerestores,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=pods/exec,verbs=create
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list

// backupVolumes backs up the volumes of the pods the cluster backup sn
// saved and returns the summary and, when volumes were missed or failed,
// why; ok is false when the operation must stop (the controller stopping,
// or the plan could not be recorded), leaving the Backup to be resumed.
//
// Unless b's status says the plan was made (status.volumes.planned, after
// a controller that died waiting), it plans them (podvolume.NewPlan),
// runs each pod's pre hooks and creates a PodVolumeBackup for each of its
// volumes, and records the plan. A resumed plan skips the pods whose work
// items exist. Then it waits for the agents (bounded by VolumeTimeout from
// the start of the wait), running each pod's post hooks once its work
// items are finished. A resumed wait runs the post hooks of every pod
// again: a post hook must be safe to run twice (a thaw is), a pod left
// frozen is not.
func (r *BackupReconciler) backupVolumes(ctx context.Context, log logr.Logger, op *operation, b *cairnv1.Backup, loc *cairnv1.BackupLocation, sn *snapshot.Snapshot) (*cairnv1.VolumeSummary, string, bool) {
	sum := b.Status.Volumes
	if sum == nil || !sum.Planned {
		var err error
		if sum, err = r.planVolumes(ctx, log, b, loc, sn); err != nil {
			log.Error(err, "pod volumes: the plan could not be recorded; the run is resumed")
			return nil, "", false
		}
	}
	sum = sum.DeepCopy()
	hk := &podHooks{r: r, log: log, spec: b.Spec.Hooks, sum: sum}
	left := map[client.ObjectKey]int{} // a pod's work items not finished
	posted := map[client.ObjectKey]bool{}
	post := func(k client.ObjectKey) {
		if posted[k] {
			return
		}
		posted[k] = true
		var pod corev1.Pod
		if err := r.api.Get(ctx, k, &pod); err == nil {
			hk.post(ctx, &pod)
		}
	}
	ok := r.awaitItems(ctx, op, sum, func(ctx context.Context, rd client.Reader) ([]workItem, error) {
		var l cairnv1.PodVolumeBackupList
		if err := rd.List(ctx, &l, client.InNamespace(r.o.Namespace)); err != nil {
			return nil, err
		}
		var out []workItem
		for i := range l.Items {
			p := &l.Items[i]
			if p.Spec.BackupName != b.Name || !ownedBy(p, b) {
				continue
			}
			out = append(out, newWorkItem(p.Name, p.Spec.Pod, p.Spec.Volume, p.Spec.Node, p.Status))
		}
		return out, nil
	}, func(items []workItem) {
		for _, it := range items {
			left[it.pod]++
		}
	}, func(it workItem) {
		// Post hooks once all of the pod's volumes are finished, whatever
		// the result.
		if left[it.pod]--; left[it.pod] == 0 {
			post(it.pod)
		}
	})
	if !ok {
		return nil, "", false
	}
	for k, n := range left {
		if n > 0 {
			post(k)
		}
	}
	sort.Strings(sum.Failed)
	return sum, volumeReason(sum, "backed up"), true
}

// planVolumes plans the volumes of the pods sn saved, runs each pod's pre
// hooks, creates its work items (pods that have them already, from a
// plan a killed controller began, are left as they are) and records the
// plan in b's status.
func (r *BackupReconciler) planVolumes(ctx context.Context, log logr.Logger, b *cairnv1.Backup, loc *cairnv1.BackupLocation, sn *snapshot.Snapshot) (*cairnv1.VolumeSummary, error) {
	sum := &cairnv1.VolumeSummary{Planned: true}
	record := func() (*cairnv1.VolumeSummary, error) {
		before := b.DeepCopy()
		b.Status.Volumes = sum
		sort.Strings(sum.Failed)
		return sum, statuspatch.Outcome(ctx, r.c, b, before)
	}
	var refs []client.ObjectKey
	err := r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		var err error
		refs, err = backedUpPods(ctx, rp, sn)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		sum.Missed = append(sum.Missed, "pod volumes not backed up: the backup's pods could not be read: "+err.Error())
		return record()
	}
	var pods []corev1.Pod
	owners := map[client.ObjectKey]string{}
	for _, ref := range refs {
		var pod corev1.Pod
		if err := r.api.Get(ctx, ref, &pod); err != nil {
			if !apierrors.IsNotFound(err) {
				sum.Missed = append(sum.Missed, fmt.Sprintf("%s: %v", ref, err))
			}
			continue // gone since the resources were listed
		}
		pods = append(pods, pod)
		owners[ref] = r.workload(ctx, &pod)
	}
	nodes, err := agentlease.Nodes(ctx, r.api, r.o.Namespace, r.now())
	if err != nil {
		sum.Missed = append(sum.Missed, "pod volumes not backed up: "+err.Error())
		return record()
	}
	// Work items a killed controller created: their pods are planned.
	var existing cairnv1.PodVolumeBackupList
	if err := r.api.List(ctx, &existing, client.InNamespace(r.o.Namespace)); err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for i := range existing.Items {
		if p := &existing.Items[i]; p.Spec.BackupName == b.Name && ownedBy(p, b) {
			have[p.Name] = true
		}
	}
	plan := podvolume.NewPlan(pods, podvolume.PlanOptions{
		DefaultAll: b.Spec.DefaultVolumesToBackup == nil || *b.Spec.DefaultVolumesToBackup,
		HasAgent:   func(n string) bool { return nodes[n] },
	})
	for _, m := range plan.Missed {
		sum.Missed = append(sum.Missed, m.String())
	}
	byKey := map[client.ObjectKey]*corev1.Pod{}
	for i := range pods {
		byKey[client.ObjectKey{Namespace: pods[i].Namespace, Name: pods[i].Name}] = &pods[i]
	}
	hk := &podHooks{r: r, log: log, spec: b.Spec.Hooks, sum: sum}
	var order []client.ObjectKey
	items := map[client.ObjectKey][]podvolume.Item{}
	for _, it := range plan.Items {
		k := client.ObjectKey{Namespace: it.Namespace, Name: it.Pod}
		if _, ok := items[k]; !ok {
			order = append(order, k)
		}
		items[k] = append(items[k], it)
	}
	for _, k := range order {
		pod := byKey[k]
		made := 0
		for _, it := range items[k] {
			if have[itemName(b.Name, string(it.PodUID), it.Volume.Name)] {
				made++
			}
		}
		if made > 0 {
			sum.WorkItems += made // planned before the controller stopped
			continue
		}
		// Pre hooks, before the pod's work items exist: a failure with
		// on-error Fail fails this pod's volumes only.
		if err := hk.run(ctx, pod, hooks.Pre); err != nil {
			for _, it := range items[k] {
				sum.Failed = append(sum.Failed, fmt.Sprintf("%s/%s volume %s: not backed up, a pre hook failed: %v", it.Namespace, it.Pod, it.Volume.Name, err))
			}
			hk.post(ctx, pod) // undo what the hooks before it did (e.g. thaw)
			continue
		}
		for _, it := range items[k] {
			p := &cairnv1.PodVolumeBackup{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: r.o.Namespace, Name: itemName(b.Name, string(it.PodUID), it.Volume.Name),
					Labels: map[string]string{cairnv1.LabelNode: labelOr(it.Node)},
				},
				Spec: cairnv1.PodVolumeBackupSpec{
					BackupName: b.Name, Node: it.Node, Volume: it.Volume.Name, PVC: it.Volume.PVC,
					Pod:             cairnv1.PodRef{Namespace: it.Namespace, Name: it.Pod, UID: it.PodUID},
					Owner:           owners[k],
					StorageLocation: loc.Name, Expires: b.Status.Expiration,
				},
			}
			if len(validation.IsValidLabelValue(b.Name)) == 0 {
				p.Labels[cairnv1.LabelBackup] = b.Name
			}
			if err := controllerutil.SetOwnerReference(b, p, r.c.Scheme()); err != nil {
				return nil, err
			}
			if err := r.c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
				sum.Failed = append(sum.Failed, fmt.Sprintf("%s/%s volume %s: %v", it.Namespace, it.Pod, it.Volume.Name, err))
				continue
			}
			made++
		}
		sum.WorkItems += made
		if made == 0 {
			hk.post(ctx, pod)
		}
	}
	log.Info("pod volumes", "backup", b.Name, "volumes", sum.WorkItems, "missed", len(sum.Missed))
	return record()
}

// ownedBy reports whether o has an owner reference to owner.
func ownedBy(o, owner client.Object) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

// workItem is a PodVolumeBackup or PodVolumeRestore as awaitItems sees it.
type workItem struct {
	name   string
	pod    client.ObjectKey
	status cairnv1.VolumeStatus
	what   string // for people: the pod, volume and node
}

func newWorkItem(name string, pod cairnv1.PodRef, volume, node string, st cairnv1.VolumeStatus) workItem {
	return workItem{name: name, pod: client.ObjectKey{Namespace: pod.Namespace, Name: pod.Name}, status: st,
		what: fmt.Sprintf("%s/%s volume %s (node %s)", pod.Namespace, pod.Name, volume, node)}
}

// awaitItems waits until the sum.WorkItems work items that list returns
// are finished, failed or gone, or VolumeTimeout passed, and counts them
// into sum. It reads them through the controller's cache (r.c: no request
// to the API server) each time a change of one wakes op (the controllers
// watch them), at the latest every Options.Recheck; only when fewer items
// are listed than were made does it ask the API server (a cache that is
// behind, or items deleted). first gets the items as first listed; done
// (if not nil) each item as soon as it is finished. It returns false if
// ctx ended first.
func (b *base) awaitItems(ctx context.Context, op *operation, sum *cairnv1.VolumeSummary, list func(context.Context, client.Reader) ([]workItem, error),
	first func([]workItem), done func(workItem)) bool {
	deadline := time.Now().Add(b.o.VolumeTimeout)
	finished := map[string]bool{}
	listed := false
	for {
		items, err := list(ctx, b.c)
		if err == nil && len(items) < sum.WorkItems {
			items, err = list(ctx, b.api)
		}
		if ctx.Err() != nil {
			return false
		}
		late := !time.Now().Before(deadline)
		if err == nil {
			if !listed {
				listed = true
				if first != nil {
					first(items)
				}
			}
			pending := 0
			for _, it := range items {
				if finished[it.name] {
					continue
				}
				switch st := it.status; {
				case st.Phase == cairnv1.VolumeCompleted:
					sum.Completed++
				case st.Phase == cairnv1.VolumeFailed:
					sum.Failed = append(sum.Failed, it.what+": "+st.Message)
				case late:
					sum.Failed = append(sum.Failed, fmt.Sprintf("%s: the node agent did not finish within %s (phase %s)", it.what, b.o.VolumeTimeout, phaseOr(st.Phase)))
				default:
					pending++
					continue
				}
				finished[it.name] = true
				if done != nil {
					done(it)
				}
			}
			if pending == 0 {
				if gone := sum.WorkItems - len(finished); gone > 0 {
					sum.Failed = append(sum.Failed, fmt.Sprintf("%d work items were deleted before they finished", gone))
				}
				return true
			}
		} else if late {
			sum.Failed = append(sum.Failed, fmt.Sprintf("the work items could not be read within %s: %v", b.o.VolumeTimeout, err))
			return true
		}
		op.wait(ctx, min(b.o.Recheck, time.Until(deadline)+time.Millisecond))
	}
}

func phaseOr(p cairnv1.VolumePhase) cairnv1.VolumePhase {
	if p == "" {
		return cairnv1.VolumeNew
	}
	return p
}

// podHooks runs the exec hooks of one backup's pods and records what they
// came to in sum.
type podHooks struct {
	r    *BackupReconciler
	log  logr.Logger
	spec cairnv1.BackupHooks
	sum  *cairnv1.VolumeSummary
	ex   hooks.Executor
}

// run runs pod's hooks of phase; failures of Continue hooks become
// warnings, and the first failure of a Fail hook (or a malformed hook) is
// returned.
func (h *podHooks) run(ctx context.Context, pod *corev1.Pod, phase hooks.Phase) error {
	list, err := hooks.ForPod(pod, phase, h.spec)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	if h.ex == nil {
		if h.ex, err = h.r.o.HookExecutor(h.r.o.Cluster); err != nil {
			return err
		}
	}
	res := hooks.Run(ctx, h.ex, pod, list)
	for _, w := range res.Warnings {
		h.log.Info("backup hook failed (on-error Continue)", "pod", pod.Namespace+"/"+pod.Name, "phase", phase, "warning", w)
		h.sum.Warnings = append(h.sum.Warnings, fmt.Sprintf("%s/%s: %s %s", pod.Namespace, pod.Name, phase, w))
	}
	if res.Err != nil {
		h.log.Info("backup hook failed", "pod", pod.Namespace+"/"+pod.Name, "phase", phase, "error", res.Err.Error())
	}
	return res.Err
}

// post runs pod's post hooks; a failure with on-error Fail makes the
// backup PartiallyFailed (the volumes themselves are as the agent left
// them).
func (h *podHooks) post(ctx context.Context, pod *corev1.Pod) {
	if err := h.run(context.WithoutCancel(ctx), pod, hooks.Post); err != nil {
		h.sum.Failed = append(h.sum.Failed, fmt.Sprintf("%s/%s: post %v (its volumes were backed up)", pod.Namespace, pod.Name, err))
	}
}

// volumeReason says what went wrong with the volumes, or "".
func volumeReason(sum *cairnv1.VolumeSummary, did string) string {
	if len(sum.Failed)+len(sum.Missed) == 0 {
		return ""
	}
	all := append(append([]string(nil), sum.Failed...), sum.Missed...)
	more := ""
	if len(all) > 3 {
		more = fmt.Sprintf("; and %d more", len(all)-3)
		all = all[:3]
	}
	return fmt.Sprintf("%d pod volumes %s, %d failed, %d missed: %s%s", sum.Completed, did, len(sum.Failed), len(sum.Missed), strings.Join(all, "; "), more)
}

// backedUpPods lists the pods saved in the cluster backup sn.
func backedUpPods(ctx context.Context, rp *repo.Repository, sn *snapshot.Snapshot) ([]client.ObjectKey, error) {
	dir := strings.TrimSuffix(layout.ObjectPath("", "pods", "x", "y"), "/x/y.json")
	n, err := backup.Lookup(ctx, rp, sn, dir)
	if errors.Is(err, backup.ErrNoFile) || (err == nil && n.Subtree == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	nss, err := snapshot.LoadTree(ctx, rp, *n.Subtree)
	if err != nil {
		return nil, err
	}
	var out []client.ObjectKey
	for _, ns := range nss.Nodes {
		if ns.Subtree == nil {
			continue
		}
		t, err := snapshot.LoadTree(ctx, rp, *ns.Subtree)
		if err != nil {
			return nil, err
		}
		for _, f := range t.Nodes {
			if strings.HasSuffix(f.Name, ".json") {
				out = append(out, client.ObjectKey{Namespace: ns.Name, Name: strings.TrimSuffix(f.Name, ".json")})
			}
		}
	}
	return out, nil
}

// workload returns "<Kind>/<name>" of the workload that runs pod: its
// controller, the Deployment of its ReplicaSet, or the pod itself.
func (b *base) workload(ctx context.Context, pod *corev1.Pod) string {
	return podvolume.Owner(pod, func(name string) string {
		var rs appsv1.ReplicaSet
		if err := b.api.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: name}, &rs); err == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				return d.Name
			}
		}
		return ""
	})
}

// itemName names a work item: the owner's name (shortened) and a hash of
// what makes it unique.
func itemName(owner string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "/")))
	if len(owner) > 40 {
		owner = strings.TrimRight(owner[:40], "-.")
	}
	return owner + "-" + hex.EncodeToString(h[:5])
}

func labelOr(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	return ""
}

// volumeSnapshots returns the pod volume snapshots of the backup named
// name.
func volumeSnapshots(ctx context.Context, rp *repo.Repository, name string) ([]*snapshot.Snapshot, error) {
	all, err := snapshot.List(ctx, rp)
	if err != nil {
		return nil, err
	}
	f := snapshot.Filter{Label: map[string]string{podvolume.LabelKind: podvolume.KindPodVolume, podvolume.LabelBackup: name}}
	var out []*snapshot.Snapshot
	for _, sn := range all {
		if f.Match(sn) {
			out = append(out, sn)
		}
	}
	return out, nil
}
