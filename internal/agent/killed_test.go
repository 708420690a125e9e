package agent_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestKilledMidBackupAndRestore runs the controller and the agent as
// processes of their own and SIGKILLs them in the middle of the work:
//
//  1. the controller, while the Backup waits for its pod volume (its
//     snapshot saved, its work item made, no agent running): the next
//     controller goes on waiting, it does not back up the resources again;
//  2. the agent, while it reads the 256 MiB volume: the next agent backs
//     the volume up again (attempt 2) and the Backup ends Completed, with
//     one cluster snapshot and one volume snapshot whose restore equals
//     the volume byte for byte; the repository passes a check of all data;
//  3. the controller, while the Restore of that backup into another
//     namespace waits for the volume (its objects created, its work item
//     made, no agent running): the next controller runs it again
//     (attempt 2), finds the objects the first run created and reports
//     them created, and the restored pod starts on the backup's data.
//
// A killed process leaves its repository lock, its lease and its
// resourceVersions behind; none of them blocks the next one.
func TestKilledMidBackupAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	app := e.appNamespace(ctx, t)
	pod := e.runPod(ctx, t, app, "big", nil, emptyDir("data"))
	src := e.n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "data")
	testenv.RandomFiles(t, src, 64, 4<<20, 11) // 256 MiB, incompressible
	agentUp := func() {
		t.Helper()
		waitFor(ctx, t, time.Minute, "the agent's lease", func() bool { return e.agentUp(ctx) })
	}
	// An agent that held its lease and was killed: its node counts as
	// having an agent for agentlease.Duration, so the controller plans
	// the volume, and nobody takes the work item.
	a := e.startProc(t, "agent")
	agentUp()
	a.kill(t)

	// 1. The controller killed while the Backup waits for its volume.
	c := e.startProc(t, "controller")
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "killed", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app}, TTL: &metav1.Duration{Duration: 24 * time.Hour}}}
	must(t, e.cl.Create(ctx, b))
	waitItem(ctx, t, e.cl, b, 2*time.Minute, "the backup to wait for its volume", func(b *cairnv1.Backup) bool {
		return b.Status.Phase == cairnv1.PhaseWaitingForVolumes && b.Status.Volumes != nil && b.Status.Volumes.Planned
	})
	c.kill(t)
	if b.Status.SnapshotID == "" || b.Status.Items == 0 || b.Status.Volumes.WorkItems != 1 {
		t.Fatalf("backup waiting for its volume: snapshot %q, %d items, volumes %+v; want its snapshot and one work item", b.Status.SnapshotID, b.Status.Items, b.Status.Volumes)
	}
	firstSnapshot := b.Status.SnapshotID
	item := func() *cairnv1.PodVolumeBackup {
		t.Helper()
		var l cairnv1.PodVolumeBackupList
		must(t, e.cl.List(ctx, &l, client.InNamespace(e.ns), client.MatchingLabels{cairnv1.LabelBackup: "killed"}))
		if len(l.Items) != 1 {
			t.Fatalf("%d work items of backup killed, want 1", len(l.Items))
		}
		return &l.Items[0]
	}
	if p := item(); p.Status.Phase != "" && p.Status.Phase != cairnv1.VolumeNew {
		t.Fatalf("the work item is %s with no agent running", p.Status.Phase)
	}

	// 2. The agent killed while it reads the volume.
	a = e.startProc(t, "agent")
	p := item()
	waitItem(ctx, t, e.cl, p, 2*time.Minute, "the agent to read the volume", func(p *cairnv1.PodVolumeBackup) bool {
		if p.Status.Phase.Finished() {
			t.Fatalf("the backup of 256 MiB ended (%s: %s) before the agent could be killed", p.Status.Phase, p.Status.Message)
		}
		return p.Status.Phase == cairnv1.VolumeInProgress && p.Status.Progress.Bytes > 0
	})
	a.kill(t)
	must(t, e.cl.Get(ctx, client.ObjectKeyFromObject(p), p))
	t.Logf("agent killed after %d of %d bytes; work item %s, attempt %d", p.Status.Progress.Bytes, 256<<20, p.Status.Phase, p.Status.Attempts)
	if p.Status.Phase != cairnv1.VolumeInProgress || p.Status.Attempts != 1 {
		t.Fatalf("work item after the kill: %s, attempt %d; want InProgress, attempt 1", p.Status.Phase, p.Status.Attempts)
	}

	// A new agent and a new controller finish both.
	a = e.startProc(t, "agent")
	c = e.startProc(t, "controller")
	waitItem(ctx, t, e.cl, b, 3*time.Minute, "the resumed backup to finish", func(b *cairnv1.Backup) bool { return b.Status.Phase.Finished() })
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.SnapshotID != firstSnapshot || b.Status.Volumes == nil || b.Status.Volumes.Completed != 1 {
		t.Fatalf("resumed backup: %s (%s), snapshot %q (first %q), volumes %+v; want Completed, the first snapshot, 1 volume",
			b.Status.Phase, b.Status.FailureReason, b.Status.SnapshotID, firstSnapshot, b.Status.Volumes)
	}
	p = item()
	if p.Status.Phase != cairnv1.VolumeCompleted || p.Status.Attempts != 2 || p.Status.SnapshotID == "" {
		t.Fatalf("work item: %s (%s), attempt %d, snapshot %q; want Completed in attempt 2", p.Status.Phase, p.Status.Message, p.Status.Attempts, p.Status.SnapshotID)
	}
	rp := e.openRepo(ctx, t)
	clusters, err := backup.List(ctx, rp)
	must(t, err)
	var named int
	for _, sn := range clusters {
		if backup.Name(sn) == "killed" {
			named++
		}
	}
	all, err := snapshot.List(ctx, rp)
	must(t, err)
	var vols []*snapshot.Snapshot
	for _, sn := range all {
		if sn.Labels[podvolume.LabelBackup] == "killed" && sn.Labels[snapshot.LabelKind] == podvolume.KindPodVolume {
			vols = append(vols, sn)
		}
	}
	if named != 1 || len(vols) != 1 || vols[0].ID != p.Status.SnapshotID {
		t.Fatalf("repository: %d cluster snapshots and %d volume snapshots of backup killed; want 1 and 1 (the work item's)", named, len(vols))
	}
	got := t.TempDir()
	_, err = restorer.Run(ctx, rp, vols[0], restorer.Options{Target: got, Verify: true})
	must(t, err)
	diff, err := dirdiff.Compare(src, got, dirdiff.Options{})
	must(t, err)
	if len(diff) > 0 {
		t.Fatalf("the volume snapshot differs from the volume: %v", diff[:min(len(diff), 5)])
	}
	rep := e.checkRepo(ctx, t)
	t.Logf("check: %d snapshots, %d packs, %d blobs, %d orphan packs (of the killed run)", rep.Snapshots, rep.Packs, rep.Blobs, rep.OrphanPacks)

	// 3. The controller killed while the Restore waits for its volume.
	a.kill(t) // its lease stays fresh; its work items wait
	target := app + "-r"
	rs := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "killed-restore", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{
		BackupName: "killed", IncludedNamespaces: []string{app}, NamespaceMapping: map[string]string{app: target}}}
	must(t, e.cl.Create(ctx, rs))
	t.Cleanup(func() { _ = e.cs.CoreV1().Namespaces().Delete(context.Background(), target, metav1.DeleteOptions{}) })
	var pvrs cairnv1.PodVolumeRestoreList
	waitItem(ctx, t, e.cl, rs, 2*time.Minute, "the restore to wait for its volume", func(rs *cairnv1.Restore) bool {
		if rs.Status.Phase.Finished() {
			t.Fatalf("the restore ended (%s: %s) with no agent running", rs.Status.Phase, rs.Status.FailureReason)
		}
		return rs.Status.Phase == cairnv1.PhaseWaitingForVolumes &&
			e.cl.List(ctx, &pvrs, client.InNamespace(e.ns)) == nil && len(pvrs.Items) == 1
	})
	c.kill(t)
	firstCreated := rs.Status.Created
	if rs.Status.Attempts != 1 || firstCreated == 0 {
		t.Fatalf("restore waiting for its volume: attempt %d, %d created", rs.Status.Attempts, firstCreated)
	}
	e.startProc(t, "agent")
	e.startProc(t, "controller")
	waitItem(ctx, t, e.cl, rs, 3*time.Minute, "the resumed restore to finish", func(rs *cairnv1.Restore) bool { return rs.Status.Phase.Finished() })
	if rs.Status.Phase != cairnv1.PhaseCompleted || rs.Status.Attempts != 2 || rs.Status.Created != firstCreated || rs.Status.Volumes == nil || rs.Status.Volumes.Completed != 1 {
		t.Fatalf("resumed restore: %s (%s), attempt %d, %d created (first run %d), %d skipped, volumes %+v; want Completed in attempt 2 with the first run's objects and 1 volume",
			rs.Status.Phase, rs.Status.FailureReason, rs.Status.Attempts, rs.Status.Created, firstCreated, rs.Status.Skipped, rs.Status.Volumes)
	}
	var restored corev1.Pod
	waitFor(ctx, t, 2*time.Minute, "the restored pod to run", func() bool {
		return e.cl.Get(ctx, client.ObjectKey{Namespace: target, Name: "big"}, &restored) == nil && restored.Status.Phase == corev1.PodRunning
	})
	diff, err = dirdiff.Compare(src, e.n.VolumeDir(restored.UID, kubetest.PluginEmptyDir, "data"), dirdiff.Options{})
	must(t, err)
	if len(diff) > 0 {
		t.Fatalf("the restored volume differs from the backed-up one: %v", diff[:min(len(diff), 5)])
	}
}
