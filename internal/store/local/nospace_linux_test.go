package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

// TestNoSpace fills a 1 MiB tmpfs. Mounting needs root (CAP_SYS_ADMIN); the
// test skips without it unless CAIRN_REQUIRE_REAL=1.
func TestNoSpace(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("cairn-test", mnt, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		if os.Getenv("CAIRN_REQUIRE_REAL") == "1" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	ctx := context.Background()
	l, err := New(mnt)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Put(ctx, "data/big", make([]byte, 2<<20))
	if !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Put of 2 MiB on a 1 MiB tmpfs = %v, want ErrNoSpace", err)
	}
	if _, err := l.Stat(ctx, "data/big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after failed Put = %v, want ErrNotFound", err)
	}
	if names := tempFiles(t, l); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
	// The space is free again.
	if err := l.Put(ctx, "data/small", make([]byte, 512<<10)); err != nil {
		t.Errorf("Put of 512 KiB after the failure = %v", err)
	}
}
