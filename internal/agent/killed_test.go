package agent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// TestAgentKilledMidBackup stops the agent (its manager's context
// cancelled, as a killed pod) while it backs up a large volume: no snapshot
// of the interrupted work is saved, the repository passes a full check, the
// restarted agent marks the interrupted work item Failed, and a new work
// item for the same volume completes.
func TestAgentKilledMidBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	ns := e.appNamespace(ctx, t)
	dir := t.TempDir()
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	for i := 0; i < 64; i++ { // 256 MiB, incompressible
		b := make([]byte, 4<<20)
		for j := 0; j < len(b); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				b[j+k] = byte(v >> (8 * k))
			}
		}
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%02d", i)), b, 0o644))
	}
	vol := e.localVolume(ctx, t, ns, "big", dir)
	pod := e.runPod(ctx, t, ns, "big", nil, pvcVolume("data", vol.PVC))
	item := func(name string) *cairnv1.PodVolumeBackup {
		return &cairnv1.PodVolumeBackup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
			Spec: cairnv1.PodVolumeBackupSpec{
				BackupName: name, Node: e.n.Name, Volume: "data", PVC: vol.PVC, Owner: "Pod/big", StorageLocation: "default",
				Pod: cairnv1.PodRef{Namespace: ns, Name: "big", UID: pod.UID},
			},
		}
	}

	stop := e.startAgent(ctx, t)
	p := item("killed")
	must(t, e.cl.Create(ctx, p))
	// Kill the agent as soon as it has read something.
	key := client.ObjectKeyFromObject(p)
	deadline := time.Now().Add(time.Minute)
	for {
		must(t, e.cl.Get(ctx, key, p))
		if p.Status.Phase.Finished() {
			t.Fatalf("the backup of 256 MiB ended (%s: %s) before the agent could be stopped", p.Status.Phase, p.Status.Message)
		}
		if p.Status.Phase == cairnv1.VolumeInProgress && p.Status.Progress.Bytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not start the backup: %+v", p.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	must(t, e.cl.Get(ctx, key, p))
	t.Logf("agent stopped after %d of %d bytes; work item %s %q", p.Status.Progress.Bytes, 256<<20, p.Status.Phase, p.Status.Message)
	if p.Status.Phase == cairnv1.VolumeCompleted {
		t.Fatalf("the interrupted work item is Completed")
	}

	// Nothing of it was saved, and nothing is corrupt.
	rp := e.openRepo(ctx, t)
	all, err := snapshot.List(ctx, rp)
	must(t, err)
	for _, sn := range all {
		if sn.Labels[podvolume.LabelBackup] == "killed" {
			t.Errorf("snapshot %s of the interrupted backup was saved", sn.ShortID())
		}
	}
	rep := e.checkRepo(ctx, t)
	t.Logf("check after the kill: %d snapshots, %d packs, %d blobs, %d orphan packs", rep.Snapshots, rep.Packs, rep.Blobs, rep.OrphanPacks)

	// The restarted agent fails the work item it finds half done.
	e.startAgent(ctx, t)
	waitItem(ctx, t, e.cl, p, time.Minute, "the interrupted work item to fail", func(p *cairnv1.PodVolumeBackup) bool {
		return p.Status.Phase == cairnv1.VolumeFailed
	})
	if !strings.Contains(p.Status.Message, "stopped") && !strings.Contains(p.Status.Message, "context canceled") {
		t.Errorf("interrupted work item's message: %q", p.Status.Message)
	}
	t.Logf("interrupted work item: %s: %s", p.Status.Phase, p.Status.Message)

	// The next backup of the volume takes it afresh and completes.
	p2 := item("after-kill")
	must(t, e.cl.Create(ctx, p2))
	waitItem(ctx, t, e.cl, p2, 2*time.Minute, "the next backup to finish", func(p *cairnv1.PodVolumeBackup) bool {
		return p.Status.Phase.Finished()
	})
	if p2.Status.Phase != cairnv1.VolumeCompleted || p2.Status.SnapshotID == "" {
		t.Fatalf("the backup after the kill: %s: %s", p2.Status.Phase, p2.Status.Message)
	}
	sn := e.loadSnapshot(ctx, t, p2.Status.SnapshotID)
	if sn.Summary == nil || sn.Summary.TotalBytes < 256<<20 || sn.Parent != "" {
		t.Errorf("the backup after the kill: parent %q, summary %+v", sn.Parent, sn.Summary)
	}
	rep = e.checkRepo(ctx, t)
	t.Logf("check after the new backup: %d snapshots, %d packs, %d blobs, %d orphan packs", rep.Snapshots, rep.Packs, rep.Blobs, rep.OrphanPacks)
}
