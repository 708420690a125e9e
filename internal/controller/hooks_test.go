package controller_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
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
)

// hookRecorder is an Executor that records, for each command, what the
// pod's PodVolumeBackups were when it ran; commands named *-fail fail.
type hookRecorder struct {
	e   *env
	mu  sync.Mutex
	ran []string // "<pod> <command>: <phases of the pod's work items>"
}

func (h *hookRecorder) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdout, stderr io.Writer) error {
	var l cairnv1.PodVolumeBackupList
	if err := h.e.c.List(ctx, &l, client.InNamespace(h.e.ns)); err != nil {
		return err
	}
	var phases []string
	for _, p := range l.Items {
		if p.Spec.Pod.Name == pod {
			phases = append(phases, string(p.Status.Phase)+"-")
		}
	}
	h.mu.Lock()
	h.ran = append(h.ran, fmt.Sprintf("%s %s: %v", pod, cmd[0], phases))
	h.mu.Unlock()
	if strings.HasSuffix(cmd[0], "-fail") {
		_, _ = io.WriteString(stderr, "it broke\n")
		return errors.New("command terminated with exit code 1")
	}
	return nil
}

// TestBackupHooksOrder checks, with a stand-in for exec and for the node
// agent, when the controller runs hooks: a pod's pre hooks before its
// PodVolumeBackups exist, its post hooks once they are finished; a
// failing pre hook (Fail) fails that pod's volumes only and its post hook
// still runs; a failing post hook (Fail) makes the backup PartiallyFailed.
func TestBackupHooksOrder(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	rec := &hookRecorder{e: e}
	e.hooks = rec

	// A node with an agent, and two Running pods on it.
	now := metav1.NewMicroTime(e.clock.Now())
	e.create(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: agentlease.Name("node-h"), Namespace: e.ns, Labels: map[string]string{agentlease.Label: "true"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-h"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &now},
	})
	if err := e.c.Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: e.ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for name, ann := range map[string]map[string]string{
		"ok":  {"pre.hook.backup.velero.io/command": `["pre-ok"]`, "post.hook.backup.velero.io/command": `["post-fail"]`},
		"bad": {"pre.hook.backup.velero.io/command": `["pre-fail"]`, "post.hook.backup.velero.io/command": `["post-bad"]`},
	} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Annotations: ann},
			Spec: corev1.PodSpec{
				NodeName: "node-h", AutomountServiceAccountToken: ptr.To(false),
				Containers: []corev1.Container{{Name: "main", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			},
		}
		e.create(p)
		p.Status.Phase = corev1.PodRunning
		if err := e.c.Status().Update(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	// The node agent's stand-in: every work item completes after a while.
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	go func() {
		for ctx.Err() == nil {
			time.Sleep(300 * time.Millisecond)
			var l cairnv1.PodVolumeBackupList
			if err := e.c.List(ctx, &l, client.InNamespace(e.ns)); err != nil {
				continue
			}
			for i := range l.Items {
				p := &l.Items[i]
				switch p.Status.Phase {
				case "", cairnv1.VolumeNew:
					p.Status.Phase = cairnv1.VolumeInProgress
				case cairnv1.VolumeInProgress:
					p.Status.Phase = cairnv1.VolumeCompleted
				default:
					continue
				}
				_ = e.c.Status().Update(ctx, p)
			}
		}
	}()

	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "hooked", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	e.reconcile(e.rs.Backup, "hooked")
	var b cairnv1.Backup
	e.get("hooked", &b)
	if b.Status.Phase == cairnv1.PhaseNew || b.Status.Phase == "" {
		e.reconcile(e.rs.Backup, "hooked")
		e.get("hooked", &b)
	}
	v := b.Status.Volumes
	t.Logf("%s: %s; hooks ran: %q", b.Status.Phase, b.Status.FailureReason, rec.ran)
	if b.Status.Phase != cairnv1.PhasePartiallyFailed || v == nil || v.Completed != 1 || len(v.Failed) != 2 {
		t.Fatalf("backup: phase %s (%s), volumes %+v", b.Status.Phase, b.Status.FailureReason, v)
	}
	want := []string{
		"bad pre-fail: []",           // pods in name order; no work item yet
		"bad post-bad: []",           // post hooks run even after a failed pre hook
		"ok pre-ok: []",              // before the work item exists
		"ok post-fail: [Completed-]", // after it finished
	}
	if fmt.Sprint(rec.ran) != fmt.Sprint(want) {
		t.Errorf("hooks ran %q, want %q", rec.ran, want)
	}
	for i, w := range []string{
		e.ns + "/bad volume data: not backed up, a pre hook failed: hook annotation [\"pre-fail\"] in container main failed: command terminated with exit code 1 (output: \"it broke\")",
		e.ns + "/ok: post hook annotation [\"post-fail\"] in container main failed: command terminated with exit code 1 (output: \"it broke\") (its volumes were backed up)",
	} {
		if v.Failed[i] != w {
			t.Errorf("failed[%d] = %q, want %q", i, v.Failed[i], w)
		}
	}
}
