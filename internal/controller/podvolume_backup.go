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
	"k8s.io/client-go/rest"
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
)

// +kubebuilder:rbac:groups=cairn.dev,resources=podvolumebackups;podvolumerestores,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=pods/exec,verbs=create
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list

// volumePoll is how often the controller looks at the agents' work.
const volumePoll = time.Second

// backupVolumes backs up the volumes of the pods the cluster backup sn
// saved: it plans them (podvolume.NewPlan), creates a PodVolumeBackup for
// each, waits for the agents (bounded by VolumeTimeout) and returns the
// summary and, when volumes were missed or failed, why.
func (r *BackupReconciler) backupVolumes(ctx context.Context, log logr.Logger, b *cairnv1.Backup, loc *cairnv1.BackupLocation, sn *snapshot.Snapshot) (*cairnv1.VolumeSummary, string) {
	sum := &cairnv1.VolumeSummary{}
	var refs []client.ObjectKey
	err := r.repos.With(ctx, loc, func(rp *repo.Repository) error {
		var err error
		refs, err = backedUpPods(ctx, rp, sn)
		return err
	})
	if err != nil {
		return sum, "pod volumes not backed up: the backup's pods could not be read: " + err.Error()
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
		return sum, "pod volumes not backed up: " + err.Error()
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
	var names []string
	left := map[client.ObjectKey]int{}     // work items of a pod not finished
	podOf := map[string]client.ObjectKey{} // work item → pod
	for _, k := range order {
		pod := byKey[k]
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
				return sum, err.Error()
			}
			if err := r.c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
				sum.Failed = append(sum.Failed, fmt.Sprintf("%s/%s volume %s: %v", it.Namespace, it.Pod, it.Volume.Name, err))
				continue
			}
			names = append(names, p.Name)
			podOf[p.Name] = k
			left[k]++
		}
		if left[k] == 0 {
			hk.post(ctx, pod)
		}
	}
	log.Info("pod volumes", "backup", b.Name, "volumes", len(names), "missed", len(sum.Missed))
	r.awaitVolumesThen(ctx, names, sum, func(ctx context.Context, name string) (*cairnv1.VolumeStatus, string, error) {
		var p cairnv1.PodVolumeBackup
		err := r.api.Get(ctx, client.ObjectKey{Namespace: r.o.Namespace, Name: name}, &p)
		return &p.Status, fmt.Sprintf("%s/%s volume %s (node %s)", p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume, p.Spec.Node), err
	}, func(name string) {
		// Post hooks once all of the pod's volumes are finished, whatever
		// the result.
		k := podOf[name]
		if left[k]--; left[k] == 0 {
			hk.post(ctx, byKey[k])
		}
	})
	for _, k := range order {
		if left[k] > 0 { // the wait ended early (the controller stopping)
			left[k] = 0
			hk.post(ctx, byKey[k])
		}
	}
	sort.Strings(sum.Failed)
	return sum, volumeReason(sum, "backed up")
}

// newHookExecutor runs hook commands (a variable for tests).
var newHookExecutor = func(c *rest.Config) (hooks.Executor, error) { return hooks.NewAPIExecutor(c) }

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
		if h.ex, err = newHookExecutor(h.r.o.Cluster); err != nil {
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

// awaitVolumes polls the work items names until all are finished or
// VolumeTimeout passed, and counts them into sum.
func (b *base) awaitVolumes(ctx context.Context, names []string, sum *cairnv1.VolumeSummary, get func(context.Context, string) (*cairnv1.VolumeStatus, string, error)) {
	b.awaitVolumesThen(ctx, names, sum, get, nil)
	sort.Strings(sum.Failed)
}

// awaitVolumesThen is awaitVolumes, calling done (if not nil) with each
// work item as soon as it is finished, failed, gone or timed out.
func (b *base) awaitVolumesThen(ctx context.Context, names []string, sum *cairnv1.VolumeSummary, get func(context.Context, string) (*cairnv1.VolumeStatus, string, error), done func(string)) {
	deadline := time.Now().Add(b.o.VolumeTimeout)
	pending := append([]string(nil), names...)
	for len(pending) > 0 {
		var still []string
		for _, name := range pending {
			st, what, err := get(ctx, name)
			switch {
			case err != nil && !apierrors.IsNotFound(err):
				still = append(still, name)
				continue
			case err != nil:
				sum.Failed = append(sum.Failed, name+": the work item was deleted")
			case st.Phase == cairnv1.VolumeCompleted:
				sum.Completed++
			case st.Phase == cairnv1.VolumeFailed:
				sum.Failed = append(sum.Failed, what+": "+st.Message)
			case time.Now().After(deadline):
				sum.Failed = append(sum.Failed, fmt.Sprintf("%s: the node agent did not finish within %s (phase %s)", what, b.o.VolumeTimeout, st.Phase))
			default:
				still = append(still, name)
				continue
			}
			if done != nil {
				done(name)
			}
		}
		pending = still
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(volumePoll):
		}
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
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "Pod/" + pod.Name
	}
	if ref.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if err := b.api.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, &rs); err == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				return "Deployment/" + d.Name
			}
		}
	}
	return ref.Kind + "/" + ref.Name
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
