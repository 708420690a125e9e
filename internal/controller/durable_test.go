package controller_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/controller"
)

// labelEditor is a hook Executor that, while the backup runs (its pod's
// pre hook), edits the Backup's labels and annotations as a person or a
// GitOps tool would: the object's resourceVersion moves on under the
// controller's feet.
type labelEditor struct {
	e      *env
	backup string
	edited bool
}

func (h *labelEditor) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdout, stderr io.Writer) error {
	if cmd[0] != "edit" {
		return nil
	}
	var b cairnv1.Backup
	h.e.get(h.backup, &b)
	if b.Status.Phase != cairnv1.PhaseWaitingForVolumes {
		h.e.t.Errorf("hook ran with the backup %s, want WaitingForVolumes", b.Status.Phase)
	}
	if b.Labels == nil {
		b.Labels = map[string]string{}
	}
	b.Labels["team"] = "payments"
	if b.Annotations == nil {
		b.Annotations = map[string]string{}
	}
	b.Annotations["note"] = "edited during the run"
	if err := h.e.c.Update(ctx, &b); err != nil {
		return err
	}
	h.edited = true
	return nil
}

// TestBackupOutcomeSurvivesEdit edits a Backup's labels while it runs
// (from a pre hook, after InProgress was written and before the outcome
// is): the outcome — phase, snapshot ID, counts — is recorded all the
// same, and the edit is kept. Before status writes were patches, the
// final Update carried the resourceVersion read before the run and failed
// with a Conflict; the next reconcile saw InProgress, and the outcome was
// lost.
func TestBackupOutcomeSurvivesEdit(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	e.configMap("app-config")
	ed := &labelEditor{e: e, backup: "edited"}
	e.hooks = ed

	e.podOnNode("app", map[string]string{"pre.hook.backup.velero.io/command": `["edit"]`})
	// The node agent's stand-in: every work item completes, with a
	// snapshot ID.
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	go func() {
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			var l cairnv1.PodVolumeBackupList
			if err := e.c.List(ctx, &l, client.InNamespace(e.ns)); err != nil {
				continue
			}
			for i := range l.Items {
				p := &l.Items[i]
				if p.Status.Phase.Finished() {
					continue
				}
				p.Status.Phase = cairnv1.VolumeCompleted
				_ = e.c.Status().Update(ctx, p)
			}
		}
	}()

	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "edited", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(24 * time.Hour)}})
	e.reconcile(e.rs.Backup, "edited")
	var b cairnv1.Backup
	e.get("edited", &b)
	if b.Status.Phase == cairnv1.PhaseNew || b.Status.Phase == "" {
		// The first reconcile added the finalizer and label only.
		e.reconcile(e.rs.Backup, "edited")
		e.get("edited", &b)
	}
	if !ed.edited {
		t.Fatal("the hook did not edit the Backup during the run")
	}
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.SnapshotID == "" || b.Status.Items == 0 || b.Status.CompletionTimestamp == nil {
		t.Fatalf("after an edit during the run: phase %s (%s), snapshot %q, %d items; want Completed with its snapshot",
			b.Status.Phase, b.Status.FailureReason, b.Status.SnapshotID, b.Status.Items)
	}
	if b.Status.Volumes == nil || b.Status.Volumes.Completed != 1 {
		t.Errorf("volumes %+v, want 1 completed", b.Status.Volumes)
	}
	if b.Labels["team"] != "payments" || b.Annotations["note"] == "" || b.Labels[cairnv1.LabelLocation] != "main" {
		t.Errorf("labels %v, annotations %v: the edit or the controller's label was lost", b.Labels, b.Annotations)
	}
	if names := e.repoBackups(dir); len(names) != 1 || names[0] != "edited" {
		t.Errorf("repository holds backups %v, want [edited]", names)
	}
	// Reconciled again (the edit's event), nothing changes.
	e.reconcile(e.rs.Backup, "edited")
	var again cairnv1.Backup
	e.get("edited", &again)
	if again.Status.Phase != cairnv1.PhaseCompleted || again.Status.SnapshotID != b.Status.SnapshotID {
		t.Errorf("after another reconcile: phase %s, snapshot %q", again.Status.Phase, again.Status.SnapshotID)
	}
}

// podOnNode makes a running pod (status set by hand: no kubelet) with an
// emptyDir on node-e, whose agent's Lease is fresh: the controller plans a
// PodVolumeBackup for it, which nobody takes unless the test does.
func (e *env) podOnNode(name string, annotations map[string]string) {
	e.t.Helper()
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: agentlease.Name("node-e"), Namespace: e.ns, Labels: map[string]string{agentlease.Label: "true"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-e"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &now},
	}
	if err := e.c.Create(e.ctx, l); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	if err := e.c.Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: e.ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName: "node-e", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "main", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	e.create(p)
	p.Status.Phase = corev1.PodRunning
	if err := e.c.Status().Update(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

// TestLongBackupLeavesOthersFlowing runs the controller process (manager,
// watches) with a Backup that waits for a pod volume nobody backs up —
// a backup of hours — and, meanwhile, a second Backup completes, a Restore
// of it completes, and its deletion runs the finalizer: a long run is an
// operation outside Reconcile and blocks no other object. When the work
// item completes, the waiting Backup completes within seconds, though its
// recheck interval is a minute: the work item's change woke it (a watch,
// not a poll).
func TestLongBackupLeavesOthersFlowing(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	e.configMap("app-config")
	e.podOnNode("app", nil)
	e.runController(controller.Options{Retention: noGuardrails, SyncInterval: time.Hour, Recheck: time.Minute})
	wait := e.waitUntil
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "long", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	var long cairnv1.Backup
	wait("the long backup to wait for its volume", time.Minute, func() bool {
		e.get("long", &long)
		return long.Status.Phase == cairnv1.PhaseWaitingForVolumes && long.Status.Volumes != nil && long.Status.Volumes.Planned
	})

	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "short", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, IncludedResources: []string{"configmaps"}}})
	var short cairnv1.Backup
	wait("the short backup to complete during the long one", time.Minute, func() bool {
		e.get("short", &short)
		return short.Status.Phase.Finished()
	})
	if short.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("short backup: %s (%s)", short.Status.Phase, short.Status.FailureReason)
	}
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "during", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{BackupName: "short"}})
	var rs cairnv1.Restore
	wait("the restore to complete during the long backup", time.Minute, func() bool {
		e.get("during", &rs)
		return rs.Status.Phase.Finished()
	})
	if rs.Status.Phase != cairnv1.PhaseCompleted || rs.Status.Skipped == 0 {
		t.Fatalf("restore: %s (%s), %d skipped", rs.Status.Phase, rs.Status.FailureReason, rs.Status.Skipped)
	}
	if err := e.c.Delete(e.ctx, &short); err != nil {
		t.Fatal(err)
	}
	wait("the short backup's finalizer to run", time.Minute, func() bool { return e.gone("short", &cairnv1.Backup{}) })
	e.get("long", &long)
	if long.Status.Phase != cairnv1.PhaseWaitingForVolumes {
		t.Fatalf("long backup: %s, want still WaitingForVolumes", long.Status.Phase)
	}

	var items cairnv1.PodVolumeBackupList
	if err := e.c.List(e.ctx, &items, client.InNamespace(e.ns)); err != nil || len(items.Items) != 1 {
		t.Fatalf("work items: %d, %v; want 1", len(items.Items), err)
	}
	p := &items.Items[0]
	p.Status.Phase, p.Status.SnapshotID = cairnv1.VolumeCompleted, "0123456789abcdef"
	if err := e.c.Status().Update(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wait("the long backup to complete once its work item did", 15*time.Second, func() bool {
		e.get("long", &long)
		return long.Status.Phase.Finished()
	})
	if long.Status.Phase != cairnv1.PhaseCompleted || long.Status.Volumes.Completed != 1 {
		t.Fatalf("long backup: %s (%s), volumes %+v", long.Status.Phase, long.Status.FailureReason, long.Status.Volumes)
	}
	t.Logf("the long backup completed %s after its work item", time.Since(start).Round(time.Millisecond))
}

// TestInterruptedBackupResumes puts Backups in the state a controller
// killed mid-run leaves behind and reconciles them with a new one (no
// memory of the run): one InProgress whose snapshot was never saved ends
// Failed (Interrupted) and the next backup runs as usual; one InProgress
// whose snapshot was saved (the controller died between the save and the
// status write) goes on from that snapshot to Completed: the resources are
// not backed up again, and the repository holds one snapshot of it.
func TestInterruptedBackupResumes(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	e.configMap("app-config")
	fresh := func() *controller.Reconcilers {
		return controller.New(e.c, e.c, controller.Options{Namespace: e.ns, Cluster: e.cfg.Config, Retention: noGuardrails, Clock: e.clock, Recheck: 250 * time.Millisecond})
	}
	running := func(name string, mutate func(*cairnv1.Backup)) {
		t.Helper()
		var b cairnv1.Backup
		e.get(name, &b)
		b.Status = cairnv1.BackupStatus{Phase: cairnv1.PhaseInProgress, StorageLocation: "main", StartTimestamp: &metav1.Time{Time: e.clock.Now()}}
		if mutate != nil {
			mutate(&b)
		}
		if err := e.c.Status().Update(e.ctx, &b); err != nil {
			t.Fatal(err)
		}
	}

	// Never saved.
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "lost", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	running("lost", nil)
	e.reconcile(fresh().Backup, "lost")
	var b cairnv1.Backup
	e.get("lost", &b)
	if b.Status.Phase != cairnv1.PhaseFailed || b.Status.SnapshotID != "" || !strings.Contains(b.Status.FailureReason, "before its snapshot was saved") {
		t.Fatalf("interrupted before its snapshot: %s (%s), snapshot %q; want Failed, Interrupted", b.Status.Phase, b.Status.FailureReason, b.Status.SnapshotID)
	}
	if c := b.Status.Conditions; len(c) != 1 || c[0].Reason != cairnv1.ReasonInterrupted {
		t.Errorf("conditions %+v, want Ready False Interrupted", c)
	}

	// Saved, status not written.
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "saved", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	e.reconcile(e.rs.Backup, "saved")
	e.get("saved", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("backup saved: %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}
	first, items := b.Status.SnapshotID, b.Status.Items
	e.clock.Add(time.Minute)
	running("saved", func(b *cairnv1.Backup) {
		b.Status.StartTimestamp = &metav1.Time{Time: e.clock.Now().Add(-2 * time.Minute)}
	})
	e.reconcile(fresh().Backup, "saved")
	e.get("saved", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.SnapshotID != first || b.Status.Items != items {
		t.Fatalf("resumed after its snapshot was saved: %s (%s), snapshot %q (saved %q), %d items (saved %d); want Completed with the saved snapshot",
			b.Status.Phase, b.Status.FailureReason, b.Status.SnapshotID, first, b.Status.Items, items)
	}
	if got := e.repoBackups(dir); len(got) != 1 || got[0] != "saved" {
		t.Errorf("repository holds backups %v, want [saved]: one snapshot, not a second run", got)
	}

	// The next backup runs as usual.
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "next", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	e.reconcile(e.rs.Backup, "next")
	e.get("next", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("the backup after the interrupted ones: %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}
}
