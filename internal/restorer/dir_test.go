package restorer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReopenedDirectoryMustBeTheSame: a directory whose descriptor was
// closed (the descriptor bound) is opened again from its parent; if its
// name now holds another directory, or a symlink, it is refused.
func TestReopenedDirectoryMustBeTheSame(t *testing.T) {
	base := t.TempDir()
	sub := filepath.Join(base, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	root, _, err := openTarget(base)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root.fd)
	c := &dirs{limit: 0} // close every descriptor not in use
	open := func() *dir {
		fd, err := openDir(root.fd, "sub")
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		d := &dir{parent: root, name: "sub", rel: "sub", dev: st.Dev, ino: st.Ino}
		c.add(d, fd)
		c.release(d)
		if d.fd != -1 {
			t.Fatal("an unused descriptor stayed open beyond the limit")
		}
		return d
	}

	d := open()
	if _, err := c.acquire(d); err != nil {
		t.Fatalf("opened again, unchanged: %v", err)
	}
	c.release(d)

	// Another directory under the same name.
	if err := os.Rename(sub, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire(d); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("another directory under its name: %v, want it refused", err)
	}

	// A symlink under the same name (to the very directory it was).
	d = open()
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(base, "moved"), filepath.Join(base, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "elsewhere"), sub); err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire(d); err == nil {
		t.Error("a symlink under its name was followed")
	}
	c.closeAll()
}
