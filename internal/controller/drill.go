package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=restoretests,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=restoretests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cairn.dev,resources=restores,verbs=create

// DrillReconciler runs RestoreTests (restore drills): each run restores
// the newest Completed backup of a schedule (or a named one) into scratch
// namespaces "<namespace>-drill-<id>" — created first, with the opt-out
// label, so that no backup ever takes them, and with cluster-scoped
// objects left out, so that the drill never touches what the backup's
// namespaces and the cluster hold — through an ordinary Restore (volume
// data by the agents, each file read back and checked against the
// snapshot: PodVolumeRestoreSpec.Verify), then checks that every object of
// the backup is back (a count per type), that the volumes came back intact
// and that the pods become Ready; it records the measured recovery time
// and the checks, and deletes the scratch namespaces. A run is an
// operation (ops.go); a run a killed controller left InProgress ends
// Failed, its scratch namespaces deleted, and the next run is due as
// scheduled.
type DrillReconciler struct {
	base
	ended chan event.GenericEvent
}

func (r *DrillReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("restoretest").
		For(&cairnv1.RestoreTest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cairnv1.Restore{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &cairnv1.RestoreTest{})).
		WatchesRawSource(source.Channel(r.ended, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// defaultReadyTimeout bounds the wait for a drill's pods.
const defaultReadyTimeout = 10 * time.Minute

// Reconcile starts a drill that is due.
func (r *DrillReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var d cairnv1.RestoreTest
	if err := r.c.Get(ctx, req.NamespacedName, &d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.ops.isRunning(d.UID) {
		r.ops.notify(d.UID) // its Restore changed
		return ctrl.Result{}, nil
	}
	if d.Status.Phase == cairnv1.PhaseInProgress {
		// Running, but not here: the process that ran it is gone.
		dd := d.DeepCopy()
		r.ops.start(ctx, dd, r.ended, func(ctx context.Context, _ *operation) { r.interrupted(ctx, dd) })
		return ctrl.Result{}, nil
	}
	now := r.now().UTC()
	due := now
	var requeue time.Duration
	if d.Spec.Schedule != "" {
		sched, err := parseSchedule(d.Spec.Schedule)
		if err != nil {
			before := d.DeepCopy()
			d.Status.Phase = cairnv1.PhaseFailed
			d.Status.FailureReason = "rejected: " + err.Error()
			setReady(&d.Status.Conditions, d.Generation, false, cairnv1.ReasonInvalidSpec, d.Status.FailureReason)
			return ctrl.Result{}, statuspatch.Transition(ctx, r.c, &d, before)
		}
		last := d.CreationTimestamp.UTC()
		if d.Status.LastRun != nil {
			last = d.Status.LastRun.UTC()
		}
		next := sched.Next(now)
		requeue = next.Sub(now)
		if due = lastDue(sched, last, now); due.IsZero() {
			if d.Status.NextRun == nil || !d.Status.NextRun.Time.Equal(next) {
				before := d.DeepCopy()
				d.Status.NextRun = &metav1.Time{Time: next}
				if err := statuspatch.Transition(ctx, r.c, &d, before); err != nil {
					return ctrl.Result{}, err
				}
			}
			return ctrl.Result{RequeueAfter: requeue}, nil
		}
	} else if d.Status.Phase != "" && d.Status.Phase != cairnv1.PhaseNew {
		return ctrl.Result{}, nil // a one-off drill that ran
	}
	dd := d.DeepCopy()
	r.ops.start(ctx, dd, r.ended, func(ctx context.Context, op *operation) { r.run(ctx, op, dd, due) })
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// drillNamespace names the scratch namespace of ns for drill run id.
func drillNamespace(ns, id string) string {
	suffix := "-drill-" + id
	if len(ns)+len(suffix) > 63 {
		ns = strings.TrimRight(ns[:63-len(suffix)], "-")
	}
	return ns + suffix
}

// run runs one drill of d, due at due.
func (r *DrillReconciler) run(ctx context.Context, op *operation, d *cairnv1.RestoreTest, due time.Time) {
	log := logr.FromContextOrDiscard(ctx).WithValues("restoretest", d.Name)
	fail := func(msg string) {
		before := d.DeepCopy()
		d.Status.Phase, d.Status.FailureReason = cairnv1.PhaseFailed, msg
		d.Status.LastRun = &metav1.Time{Time: due}
		d.Status.CompletionTimestamp = r.metaNow()
		setReady(&d.Status.Conditions, d.Generation, false, cairnv1.ReasonFailed, truncate(msg, 2000))
		if err := statuspatch.Transition(ctx, r.c, d, before); err != nil {
			log.Info("drill outcome not recorded; it is read again", "reason", err.Error())
			return
		}
		observeDrill(d)
	}
	b, err := r.sourceBackup(ctx, d.Namespace, d.Spec.BackupName, d.Spec.ScheduleName)
	if err != nil {
		fail(err.Error())
		return
	}
	if len(b.Status.Namespaces) == 0 {
		fail(fmt.Sprintf("backup %s records no namespaces (status.namespaces: made before cairn recorded them, or it holds only cluster-scoped objects): nothing to drill", b.Name))
		return
	}
	h := sha256.Sum256([]byte(string(d.UID) + due.Format(time.RFC3339)))
	id := hex.EncodeToString(h[:3])
	mapping := map[string]string{}
	var scratch []string
	for _, ns := range b.Status.Namespaces {
		mapping[ns] = drillNamespace(ns, id)
		scratch = append(scratch, mapping[ns])
	}
	before := d.DeepCopy()
	d.Status = cairnv1.RestoreTestStatus{
		Phase: cairnv1.PhaseInProgress, BackupName: b.Name, RestoreName: d.Name + "-" + id, Namespaces: scratch,
		StartTimestamp: r.metaNow(), LastRun: &metav1.Time{Time: due}, LastSuccessfulRun: d.Status.LastSuccessfulRun,
		NextRun: d.Status.NextRun, Conditions: d.Status.Conditions,
	}
	setReady(&d.Status.Conditions, d.Generation, false, cairnv1.ReasonInProgress, "restoring backup "+b.Name+" into "+strings.Join(scratch, ", "))
	if err := statuspatch.Transition(ctx, r.c, d, before); err != nil {
		log.Info("drill not started; it is read again", "reason", err.Error())
		return
	}
	start := time.Now()
	checks, err := r.drill(ctx, op, d, b, mapping)
	took := time.Since(start) // the restore and its checks, not the clean-up
	if ctx.Err() != nil {
		return // stopping: the next leader ends it, and deletes them
	}
	// Gone before the outcome says the drill ended.
	r.deleteScratch(context.WithoutCancel(ctx), log, d)
	before = d.DeepCopy()
	d.Status.Checks = checks
	d.Status.CompletionTimestamp = r.metaNow()
	var failed []string
	for _, c := range checks {
		if !c.Passed {
			failed = append(failed, c.Name+": "+c.Message)
		}
	}
	switch {
	case err != nil:
		d.Status.Phase, d.Status.FailureReason = cairnv1.PhaseFailed, err.Error()
	case len(failed) > 0:
		d.Status.Phase, d.Status.FailureReason = cairnv1.PhaseFailed, strings.Join(failed, "; ")
	default:
		d.Status.Phase = cairnv1.PhaseCompleted
		d.Status.Duration = &metav1.Duration{Duration: took.Round(time.Second)}
		d.Status.LastSuccessfulRun = d.Status.CompletionTimestamp
	}
	if d.Status.Phase == cairnv1.PhaseCompleted {
		setReady(&d.Status.Conditions, d.Generation, true, cairnv1.ReasonCompleted,
			fmt.Sprintf("backup %s restored and checked in %s (objects, volumes, pods)", b.Name, d.Status.Duration.Duration))
	} else {
		setReady(&d.Status.Conditions, d.Generation, false, cairnv1.ReasonFailed, truncate(d.Status.FailureReason, 2000))
	}
	log.Info("drill finished", "phase", d.Status.Phase, "backup", b.Name, "reason", d.Status.FailureReason)
	if err := statuspatch.Outcome(ctx, r.c, d, before); err != nil {
		log.Error(err, "record the drill's outcome")
		return
	}
	observeDrill(d)
}

// drill makes the scratch namespaces and the Restore, waits for it and
// checks what came back.
func (r *DrillReconciler) drill(ctx context.Context, op *operation, d *cairnv1.RestoreTest, b *cairnv1.Backup, mapping map[string]string) ([]cairnv1.DrillCheck, error) {
	optOut := b.Spec.OptOutLabel
	if optOut == "" {
		optOut = backup.DefaultOptOutLabel
	}
	for _, ns := range d.Status.Namespaces {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{optOut: "true", cairnv1.LabelDrill: labelOr(d.Name)}}}
		if err := r.c.Create(ctx, n); err != nil {
			return nil, fmt.Errorf("create scratch namespace %s: %w", ns, err)
		}
	}
	rs := &cairnv1.Restore{
		ObjectMeta: metav1.ObjectMeta{Name: d.Status.RestoreName, Namespace: d.Namespace, Labels: map[string]string{cairnv1.LabelDrill: labelOr(d.Name)}},
		Spec: cairnv1.RestoreSpec{
			BackupName: b.Name, IncludedNamespaces: b.Status.Namespaces, NamespaceMapping: mapping,
			IncludeClusterResources: "false",
		},
	}
	if err := controllerutil.SetOwnerReference(d, rs, r.c.Scheme()); err != nil {
		return nil, err
	}
	if err := r.c.Create(ctx, rs); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create restore %s: %w", rs.Name, err)
	}
	deadline := time.Now().Add(r.o.VolumeTimeout + defaultReadyTimeout)
	for {
		if err := r.c.Get(ctx, client.ObjectKeyFromObject(rs), rs); err == nil && rs.Status.Phase.Finished() {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("restore %s did not finish within %s", rs.Name, r.o.VolumeTimeout+defaultReadyTimeout)
		}
		op.wait(ctx, r.o.Recheck)
	}
	var checks []cairnv1.DrillCheck
	check := func(name string, ok bool, format string, args ...any) {
		checks = append(checks, cairnv1.DrillCheck{Name: name, Passed: ok, Message: truncate(fmt.Sprintf(format, args...), 1000)})
	}
	check("restore", rs.Status.Phase == cairnv1.PhaseCompleted && rs.Status.Failed == 0,
		"restore %s %s: %d created, %d skipped, %d failed %s", rs.Name, rs.Status.Phase, rs.Status.Created, rs.Status.Skipped, rs.Status.Failed, rs.Status.FailureReason)
	m, err := r.manifest(ctx, b)
	if err != nil {
		check("objects", false, "the backup's manifest could not be read: %v", err)
	} else {
		ok, msg := r.countObjects(ctx, m, d.Status.Namespaces)
		check("objects", ok, "%s", msg)
	}
	switch v := rs.Status.Volumes; {
	case v == nil:
		check("volumes", true, "no pod volume data in the backup")
	default:
		check("volumes", len(v.Failed)+len(v.Missed) == 0, "%d volumes restored, each file read back and checked against the snapshot; %d failed, %d missed %s",
			v.Completed, len(v.Failed), len(v.Missed), strings.Join(append(append([]string(nil), v.Failed...), v.Missed...), "; "))
	}
	timeout := defaultReadyTimeout
	if d.Spec.ReadyTimeout != nil && d.Spec.ReadyTimeout.Duration > 0 {
		timeout = d.Spec.ReadyTimeout.Duration
	}
	ok, msg := r.podsReady(ctx, op, d.Status.Namespaces, timeout)
	check("pods", ok, "%s", msg)
	return checks, nil
}

// manifest reads backup b's manifest from its location.
func (r *DrillReconciler) manifest(ctx context.Context, b *cairnv1.Backup) (*layout.Manifest, error) {
	loc, err := r.location(ctx, b.Status.StorageLocation)
	if err != nil {
		return nil, err
	}
	var m *layout.Manifest
	err = r.repos.Read(ctx, loc, func(rp *repo.Repository) error {
		sn, err := backup.Find(ctx, rp, b.Status.SnapshotID)
		if err != nil {
			return err
		}
		m, err = backup.LoadManifest(ctx, rp, sn)
		return err
	})
	return m, err
}

// notCounted are the types a restore leaves to the cluster, or does not
// bring back by design (clusterrestore's clusterMade): their counts may
// differ.
var notCounted = []string{"/events", "events.k8s.io/events", "/endpoints", "discovery.k8s.io/endpointslices", "/pods", "batch/jobs"}

// countObjects compares, per namespaced type of the backup, its count in
// the backup with the objects of that type in the scratch namespaces.
func (r *DrillReconciler) countObjects(ctx context.Context, m *layout.Manifest, scratch []string) (bool, string) {
	dyn, err := dynamic.NewForConfig(r.o.Cluster)
	if err != nil {
		return false, err.Error()
	}
	ok := true
	var parts []string
	types := 0
	for _, res := range m.Resources {
		if !res.Namespaced || res.Count == 0 || slices.Contains(notCounted, res.Group+"/"+res.Resource) {
			continue
		}
		types++
		gvr := schema.GroupVersionResource{Group: res.Group, Version: res.Version, Resource: res.Resource}
		n := 0
		for _, ns := range scratch {
			l, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, fmt.Sprintf("list %s in %s: %v", res.Resource, ns, err)
			}
			n += len(l.Items)
		}
		if n < res.Count {
			ok = false
			parts = append(parts, fmt.Sprintf("%s: %d of %d", res.GroupResource(), n, res.Count))
		}
	}
	if ok {
		return true, fmt.Sprintf("every object of %d types is back", types)
	}
	return false, "missing objects: " + strings.Join(parts, ", ")
}

// podsReady waits until every pod of the scratch namespaces that has not
// finished is Ready, at most timeout; it reads them at each wake of op and
// every second at most.
func (r *DrillReconciler) podsReady(ctx context.Context, op *operation, scratch []string, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		total, ready := 0, 0
		var notReady []string
		for _, ns := range scratch {
			var pods corev1.PodList
			if err := r.api.List(ctx, &pods, client.InNamespace(ns)); err != nil {
				return false, err.Error()
			}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					continue
				}
				total++
				if podReady(&p) {
					ready++
				} else {
					notReady = append(notReady, ns+"/"+p.Name)
				}
			}
		}
		if ready == total {
			if total == 0 {
				return true, "no pods to wait for"
			}
			return true, fmt.Sprintf("%d pods Ready", total)
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false, fmt.Sprintf("%d of %d pods Ready within %s; not Ready: %s", ready, total, timeout, strings.Join(first(notReady, 5), ", "))
		}
		op.wait(ctx, time.Second)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deleteScratch deletes the scratch namespaces of d's run (only those
// that carry its drill label).
func (r *DrillReconciler) deleteScratch(ctx context.Context, log logr.Logger, d *cairnv1.RestoreTest) {
	for _, ns := range d.Status.Namespaces {
		var n corev1.Namespace
		if err := r.api.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			continue
		}
		if n.Labels[cairnv1.LabelDrill] != labelOr(d.Name) {
			log.Info("not deleting a namespace the drill did not make", "namespace", ns)
			continue
		}
		if err := r.c.Delete(ctx, &n); client.IgnoreNotFound(err) != nil {
			log.Error(err, "delete scratch namespace", "namespace", ns)
		}
	}
}

// interrupted ends a drill a gone process left InProgress: Failed, its
// scratch namespaces deleted.
func (r *DrillReconciler) interrupted(ctx context.Context, d *cairnv1.RestoreTest) {
	before := d.DeepCopy()
	d.Status.Phase = cairnv1.PhaseFailed
	d.Status.FailureReason = "the controller stopped during the drill; its scratch namespaces are deleted, the next run is due as scheduled"
	d.Status.CompletionTimestamp = r.metaNow()
	setReady(&d.Status.Conditions, d.Generation, false, cairnv1.ReasonInterrupted, d.Status.FailureReason)
	if err := statuspatch.Transition(ctx, r.c, d, before); err != nil {
		return
	}
	r.deleteScratch(ctx, logr.FromContextOrDiscard(ctx), d)
	observeDrill(d)
}
