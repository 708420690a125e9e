package agent_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/podvolume"
)

// TestDatasetByteForByte backs up a local PV holding the mkdata dataset
// (64 MiB: database-like files, logs, blobs, small files, duplicates,
// empty files and folders, symlinks, a hard link, a sparse file, odd
// names) through the controller and the agent, then has the agent restore
// it into an empty volume of a new pod: the trees are equal, modification
// times included.
func TestDatasetByteForByte(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	e.startAgent(ctx, t)
	ns := e.appNamespace(ctx, t)
	src := filepath.Join(t.TempDir(), "data")
	generate(t, src, 64)
	vol := e.localVolume(ctx, t, ns, "data", src)
	e.runPod(ctx, t, ns, "db", nil, pvcVolume("data", vol.PVC))

	b, items := e.backup(ctx, t, "dataset", nil, ns)
	p, ok := items["db/data"]
	if b.Status.Phase != cairnv1.PhaseCompleted || !ok || p.Status.SnapshotID == "" {
		t.Fatalf("backup: phase %s (%s), volumes %+v, items %v", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes, keys(items))
	}
	t.Logf("backed up %d files, %d bytes", p.Status.Progress.Files, p.Status.Progress.Bytes)

	// A new pod with an empty volume; the agent restores into its mount.
	dst := t.TempDir()
	empty := e.localVolume(ctx, t, ns, "restored", dst)
	pod := e.runPod(ctx, t, ns, "db-restored", nil, pvcVolume("data", empty.PVC))
	r := &cairnv1.PodVolumeRestore{
		ObjectMeta: metav1.ObjectMeta{Name: "dataset", Namespace: e.ns},
		Spec: cairnv1.PodVolumeRestoreSpec{
			RestoreName: "dataset", Node: e.n.Name, Volume: "data", SnapshotID: p.Status.SnapshotID, StorageLocation: "default",
			Pod: cairnv1.PodRef{Namespace: ns, Name: pod.Name, UID: pod.UID},
		},
	}
	must(t, e.cl.Create(ctx, r))
	waitItem(ctx, t, e.cl, r, 2*time.Minute, "the restore", func(r *cairnv1.PodVolumeRestore) bool { return r.Status.Phase.Finished() })
	if r.Status.Phase != cairnv1.VolumeCompleted {
		t.Fatalf("restore: %s: %s", r.Status.Phase, r.Status.Message)
	}
	t.Logf("restore: %s", r.Status.Message)

	// The pods' own files (from-<pod>.txt) and the restore marker aside,
	// the restored volume is the backed-up one.
	ignore := func(rel string) bool {
		base := filepath.Base(rel)
		if ok, _ := filepath.Match(podvolume.MarkerGlob, base); ok {
			return true
		}
		return !strings.Contains(rel, "/") && strings.HasPrefix(base, "from-") && strings.HasSuffix(base, ".txt")
	}
	diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{ModTime: true, Ignore: ignore})
	must(t, err)
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], "...")
		}
		t.Fatalf("restored volume differs:\n%s", strings.Join(diffs, "\n"))
	}
}
