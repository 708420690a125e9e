package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestItemOutcomeSurvivesEdit edits a PodVolumeBackup's labels while the
// agent backs its volume up (InProgress, 160 MiB to read): the agent's
// outcome — Completed, the snapshot ID — is recorded all the same and the
// edit is kept. With status Updates, every write after the edit (progress,
// then the outcome) failed with a Conflict, and the item stayed InProgress
// until the controller gave up on it.
func TestItemOutcomeSurvivesEdit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	e.startAgent(ctx, t)
	app := e.appNamespace(ctx, t)
	pod := e.runPod(ctx, t, app, "big", nil, emptyDir("scratch"))
	testenv.RandomFiles(t, e.n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "scratch"), 40, 4<<20, 7)

	var edited bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil && !edited {
			time.Sleep(20 * time.Millisecond)
			var l cairnv1.PodVolumeBackupList
			if err := e.cl.List(ctx, &l, client.InNamespace(e.ns)); err != nil || len(l.Items) == 0 {
				continue
			}
			p := &l.Items[0]
			if p.Status.Phase != cairnv1.VolumeInProgress {
				if p.Status.Phase.Finished() {
					return
				}
				continue
			}
			p.Labels["reviewed"] = "yes"
			if err := e.cl.Update(ctx, p); err == nil {
				edited = true
			}
		}
	}()
	b, items := e.backup(ctx, t, "edited", nil, app)
	wg.Wait()
	if !edited {
		t.Fatal("the work item was never seen InProgress: nothing was edited during the run")
	}
	p, ok := items["big/scratch"]
	if !ok {
		t.Fatalf("work items %v, want big/scratch", keys(items))
	}
	if p.Status.Phase != cairnv1.VolumeCompleted || p.Status.SnapshotID == "" || p.Labels["reviewed"] != "yes" {
		t.Errorf("work item after an edit during its run: phase %s (%s), snapshot %q, labels %v; want Completed with its snapshot and the edit",
			p.Status.Phase, p.Status.Message, p.Status.SnapshotID, p.Labels)
	}
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 1 {
		t.Errorf("backup: phase %s (%s), volumes %+v; want Completed with 1 volume", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
	}
}
