package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestRestoreDrillOnNode runs a restore drill with the controller and the
// agent as processes on the real node: a pod with an emptyDir of 40 files
// is backed up; the RestoreTest restores it into "<ns>-drill-<id>", the
// agent reads every restored file back against the snapshot, the restored
// pod becomes Ready, and every check passes; the source pod is the same
// pod (same UID) afterwards and its volume unchanged.
func TestRestoreDrillOnNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	app := e.appNamespace(ctx, t)
	pod := e.runPod(ctx, t, app, "web", nil, emptyDir("cache"))
	src := e.n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "cache")
	testenv.RandomFiles(t, src, 40, 64<<10, 5)
	e.startProc(t, "agent")
	e.startProc(t, "controller")
	waitFor(ctx, t, time.Minute, "the agent's lease", func() bool { return e.agentUp(ctx) })

	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app}}}
	must(t, e.cl.Create(ctx, b))
	waitItem(ctx, t, e.cl, b, 2*time.Minute, "the backup", func(b *cairnv1.Backup) bool { return b.Status.Phase.Finished() })
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 1 {
		t.Fatalf("backup: %s (%s), volumes %+v", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
	}

	d := &cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "drill", Namespace: e.ns}, Spec: cairnv1.RestoreTestSpec{BackupName: "web"}}
	must(t, e.cl.Create(ctx, d))
	waitItem(ctx, t, e.cl, d, 4*time.Minute, "the drill", func(d *cairnv1.RestoreTest) bool { return d.Status.Phase.Finished() })
	for _, c := range d.Status.Checks {
		t.Logf("check %s (passed %v): %s", c.Name, c.Passed, c.Message)
	}
	if d.Status.Phase != cairnv1.PhaseCompleted || d.Status.Duration == nil {
		t.Fatalf("drill: %s (%s)", d.Status.Phase, d.Status.FailureReason)
	}
	checks := map[string]cairnv1.DrillCheck{}
	for _, c := range d.Status.Checks {
		checks[c.Name] = c
	}
	if v := checks["volumes"]; !v.Passed || !strings.Contains(v.Message, "1 volumes restored") {
		t.Errorf("volumes check: %+v", v)
	}
	if p := checks["pods"]; !p.Passed || !strings.Contains(p.Message, "1 pods Ready") {
		t.Errorf("pods check: %+v", p)
	}
	var items cairnv1.PodVolumeRestoreList
	must(t, e.cl.List(ctx, &items, client.InNamespace(e.ns)))
	for _, it := range items.Items {
		if !it.Spec.Verify || !strings.Contains(it.Status.Message, "checked against the snapshot") {
			t.Errorf("the drill's volume restore %s: verify %v, %q", it.Name, it.Spec.Verify, it.Status.Message)
		}
	}
	var now corev1.Pod
	must(t, e.cl.Get(ctx, client.ObjectKey{Namespace: app, Name: "web"}, &now))
	if now.UID != pod.UID {
		t.Errorf("the source pod was replaced (%s → %s)", pod.UID, now.UID)
	}
	t.Logf("drill of backup %s: measured recovery time %s", b.Name, d.Status.Duration.Duration)
}
