package controller_test

import (
	"context"
	"io"
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
	if b.Status.Phase != cairnv1.PhaseInProgress {
		h.e.t.Errorf("hook ran with the backup %s, want InProgress", b.Status.Phase)
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
	defer controller.SetHookExecutor(ed)()

	now := metav1.NewMicroTime(e.clock.Now())
	e.create(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: agentlease.Name("node-e"), Namespace: e.ns, Labels: map[string]string{agentlease.Label: "true"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-e"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &now},
	})
	if err := e.c.Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: e.ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: e.ns, Annotations: map[string]string{"pre.hook.backup.velero.io/command": `["edit"]`}},
		Spec: corev1.PodSpec{
			NodeName: "node-e", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "main", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	e.create(p)
	p.Status.Phase = corev1.PodRunning
	if err := e.c.Status().Update(e.ctx, p); err != nil {
		t.Fatal(err)
	}
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
