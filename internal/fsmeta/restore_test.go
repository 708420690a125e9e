package fsmeta

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// TestApplyAtFollowsNothing: metadata meant for a FIFO whose name was
// swapped for a symlink reaches neither the symlink's target (mode, times)
// nor anything else; on the FIFO itself it lands.
func TestApplyAtFollowsNothing(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(outside, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	n := &snapshot.Node{Type: snapshot.TypeFIFO, Mode: 0o777, ModTime: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	if err := ApplyAt(dfd, "p", n); err == nil {
		t.Error("ApplyAt on a symlink where a FIFO was: no error")
	}
	fi, err := os.Stat(outside)
	if err != nil || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(old) {
		t.Errorf("the symlink's target changed: %v, %v", fi.Mode(), fi.ModTime())
	}

	if err := MakeSpecialAt(dfd, "fifo", n); err != nil {
		t.Fatal(err)
	}
	if err := ApplyAt(dfd, "fifo", n); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Lstat(filepath.Join(dir, "fifo"))
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o777 || fi.ModTime().UnixNano() != n.ModTime {
		t.Errorf("fifo: %v, %v, %v", fi.Mode(), fi.ModTime(), err)
	}
}
