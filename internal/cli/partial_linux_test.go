package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPartialBackupAndRestore backs up a directory together with
// /proc/self/mem, which every process may open but whose first bytes no
// read can get (EIO): the snapshot is saved without it and the exit code
// is 3. This works as root too, where chmod 000 does not stop reading.
// Restoring that snapshot is partial as well.
func TestPartialBackupAndRestore(t *testing.T) {
	t.Parallel()
	const unreadable = "/proc/self/mem"
	if _, err := os.Lstat(unreadable); err != nil {
		t.Fatalf("%s: %v (this test needs Linux procfs)", unreadable, err)
	}
	e := newRepo(t)
	data := sampleData(t)
	r := cairn(t, e, "fs", "backup", data, unreadable).must(t, 3)
	if !strings.Contains(r.stdout, "snapshot ") || !strings.Contains(r.stdout, "errors:   1") {
		t.Errorf("partial backup summary:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, unreadable) || !strings.Contains(r.stderr, "cairn: backup: snapshot ") {
		t.Errorf("partial backup stderr:\n%s", r.stderr)
	}
	if n := len(snapshotsJSON(t, e)); n != 1 {
		t.Fatalf("%d snapshots, want the partial one", n)
	}

	target := t.TempDir()
	r = cairn(t, e, "fs", "restore", "latest", "--target", target).must(t, 3)
	if !strings.Contains(r.stderr, "could not be read at backup time") {
		t.Errorf("partial restore stderr:\n%s", r.stderr)
	}
	sameTree(t, data, filepath.Join(target, filepath.Base(data)), "")

	// The readable part is complete: restoring just it is not partial.
	cairn(t, e, "fs", "restore", "latest", "--target", t.TempDir(), "--include", filepath.Base(data)).must(t, 0)
}
