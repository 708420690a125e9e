package restorer

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestEverythingFsynced counts the fsyncs of a restore, by the type of
// what they were made on: one per restored file, one per directory (the
// target included), all before Run returns.
func TestEverythingFsynced(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, s, []byte("correct horse battery staple"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := t.TempDir()
	for _, rel := range []string{"a", "b/c", "b/d/e", "b/d/f", "g/h/i/j"} {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	synced := map[uint32]int{} // by S_IFMT
	fsync := func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		mu.Lock()
		synced[st.Mode&unix.S_IFMT]++
		mu.Unlock()
		return unix.Fsync(fd)
	}
	res, err := Run(ctx, r, sn, Options{Target: filepath.Join(t.TempDir(), "dst"), fsync: fsync})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Files != 5 || synced[unix.S_IFREG] != 5 {
		t.Errorf("%d files restored, %d fsynced; want 5 and 5", res.Files, synced[unix.S_IFREG])
	}
	// b, b/d, g, g/h, g/h/i and the target.
	if res.Dirs != 5 || synced[unix.S_IFDIR] != 6 {
		t.Errorf("%d directories restored, %d fsynced; want 5 and 6 (the target too)", res.Dirs, synced[unix.S_IFDIR])
	}
}
