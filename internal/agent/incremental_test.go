package agent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// TestSharedPVCIncremental: a claim mounted by two pods is backed up once
// (through the first pod by name); the next backup of the same claim is
// incremental: its snapshot's parent is the first one, and it reads only
// the file that changed and the one added.
func TestSharedPVCIncremental(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	e.startAgent(ctx, t)
	ns := e.appNamespace(ctx, t)
	dir := t.TempDir()
	const files, size = 20, 64 << 10
	for i := 0; i < files; i++ {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), random(size), 0o644))
	}
	vol := e.localVolume(ctx, t, ns, "shared", dir)
	e.runPod(ctx, t, ns, "b-second", nil, pvcVolume("data", vol.PVC))
	e.runPod(ctx, t, ns, "a-first", nil, pvcVolume("data", vol.PVC))
	total := files + 2 // and from-a-first.txt, from-b-second.txt

	b1, items := e.backup(ctx, t, "inc-1", nil, ns)
	if b1.Status.Phase != cairnv1.PhaseCompleted || b1.Status.Volumes == nil || b1.Status.Volumes.Completed != 1 {
		t.Fatalf("backup inc-1: phase %s (%s), volumes %+v", b1.Status.Phase, b1.Status.FailureReason, b1.Status.Volumes)
	}
	p1, ok := items["a-first/data"]
	if !ok || len(items) != 1 {
		t.Fatalf("backup inc-1: work items %v, want one, for a-first/data", keys(items))
	}
	sn1 := e.loadSnapshot(ctx, t, p1.Status.SnapshotID)
	if sn1.Parent != "" || sn1.Summary == nil || sn1.Summary.FilesNew != int64(total) {
		t.Fatalf("first snapshot: parent %q, summary %+v; want no parent, %d new files", sn1.Parent, sn1.Summary, total)
	}

	// A day later: one file rewritten, one added.
	changed, added := random(size/2), random(size/4)
	must(t, os.WriteFile(filepath.Join(dir, "f07"), changed, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "new"), added, 0o644))

	b2, items := e.backup(ctx, t, "inc-2", nil, ns)
	if b2.Status.Phase != cairnv1.PhaseCompleted || b2.Status.Volumes == nil || b2.Status.Volumes.Completed != 1 {
		t.Fatalf("backup inc-2: phase %s (%s), volumes %+v", b2.Status.Phase, b2.Status.FailureReason, b2.Status.Volumes)
	}
	p2, ok := items["a-first/data"]
	if !ok || len(items) != 1 {
		t.Fatalf("backup inc-2: work items %v, want one, for a-first/data", keys(items))
	}
	sn2 := e.loadSnapshot(ctx, t, p2.Status.SnapshotID)
	s := sn2.Summary
	t.Logf("second snapshot %s: parent %s, %+v; status %q", sn2.ShortID(), sn2.Parent, *s, p2.Status.Message)
	if sn2.Parent != sn1.ID {
		t.Errorf("second snapshot's parent %q, want the first %q", sn2.Parent, sn1.ID)
	}
	if !strings.Contains(p2.Status.Message, "incremental against snapshot "+sn1.ShortID()) {
		t.Errorf("second work item's message %q", p2.Status.Message)
	}
	if s.FilesNew != 1 || s.FilesChanged != 1 || s.FilesUnchanged != int64(total-1) {
		t.Errorf("second snapshot: %d new, %d changed, %d unchanged; want 1, 1, %d", s.FilesNew, s.FilesChanged, s.FilesUnchanged, total-1)
	}
	if want := int64(len(changed) + len(added)); s.BytesRead != want {
		t.Errorf("second snapshot read %d bytes, want only the changed and added files' %d", s.BytesRead, want)
	}
	e.checkRepo(ctx, t)
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
