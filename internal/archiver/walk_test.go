package archiver_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/swaptest"
)

// TestBoundedFds backs up a tree deeper than the open-file limit allows
// descriptors: the walker must not hold one per level.
func TestBoundedFds(t *testing.T) {
	const depth, limit = 300, 80
	src := t.TempDir()
	p := src
	for i := range depth {
		p = filepath.Join(p, "d")
		writeFile(t, filepath.Join(p, "f"), []byte(fmt.Sprintf("level %d", i)))
	}
	r := openRepo(t, t.TempDir(), true)
	fds := openFds(t)

	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	low := syscall.Rlimit{Cur: limit, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()
	first, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatalf("first backup under RLIMIT_NOFILE %d: %v", limit, err)
	}
	second, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}, Parent: first})
	if err != nil {
		t.Fatalf("second backup under RLIMIT_NOFILE %d: %v", limit, err)
	}
	files, _, err := archiver.Scan(context.Background(), []string{src}, nil)
	if err != nil || files != depth {
		t.Errorf("scan under RLIMIT_NOFILE %d: %d files, %v; want %d", limit, files, err, depth)
	}
	restore()
	if n := openFds(t); n != fds {
		t.Errorf("%d descriptors open after the backups, %d before", n, fds)
	}

	for _, sn := range []*snapshot.Snapshot{first, second} {
		levels := 0
		walkFiles(t, r, sn, func(p string, n *snapshot.Node, data []byte) {
			if want := fmt.Sprintf("level %d", strings.Count(p, "/d")-1); string(data) != want || n.Error != "" {
				t.Errorf("%s: %q (error %q), want %q", p, data, n.Error, want)
			}
			levels++
		})
		if levels != depth {
			t.Errorf("snapshot holds %d levels, want %d", levels, depth)
		}
	}
	if second.Summary.FilesUnchanged != depth {
		t.Errorf("second backup: %d files unchanged, want %d", second.Summary.FilesUnchanged, depth)
	}
}

// openFds counts the process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es) - 1 // ReadDir's own
}

// TestTopSymlink: a path given to back up that is a symlink is saved as
// the symlink; what it points to is not read.
func TestTopSymlink(t *testing.T) {
	outside, stage := t.TempDir(), t.TempDir()
	secret := secretBytes(t)
	writeFile(t, filepath.Join(outside, "secret"), secret)
	link := filepath.Join(stage, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, t.TempDir(), true)
	sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{link}})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snapshot.LoadTree(context.Background(), r, sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Nodes) != 1 || tree.Nodes[0].Type != snapshot.TypeSymlink || tree.Nodes[0].LinkTarget != outside {
		t.Fatalf("root tree %+v, want one symlink to %s", tree.Nodes, outside)
	}
	walkFiles(t, r, sn, func(p string, _ *snapshot.Node, _ []byte) { t.Errorf("file %s saved", p) })
}

// TestTopMissing: a path that does not exist fails the backup; no
// snapshot is saved.
func TestTopMissing(t *testing.T) {
	r := openRepo(t, t.TempDir(), true)
	for _, paths := range [][]string{{"/nonexistent/cairn"}, {t.TempDir(), "/nonexistent/cairn"}} {
		sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: paths})
		if !errors.Is(err, fs.ErrNotExist) || sn != nil {
			t.Errorf("backup of %v: %v, %v; want ErrNotExist and no snapshot", paths, sn, err)
		}
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := mustCheck(t, r); rep.Snapshots != 0 {
		t.Errorf("%d snapshots saved", rep.Snapshots)
	}
}

// BenchmarkBackup10k backs up a tree of 10,000 small files (100
// directories of 100), reading every file (no parent), into a repository
// that already holds their content: the walk, opens and reads dominate.
func BenchmarkBackup10k(b *testing.B) {
	src := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte(fmt.Sprintf("file %d %d\n", d, f)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	r := openRepo(b, b.TempDir(), true)
	ctx := context.Background()
	if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSwapDeepDirs exchanges two directories deeper than the walker keeps
// open: when it climbs back through "..", the parent it finds may not be
// the one it left. That is reported, nothing leaks, and every file saved
// is one of the source's with its own content.
func TestSwapDeepDirs(t *testing.T) {
	src := t.TempDir()
	deep := func(top string) string {
		return filepath.Join(src, top, strings.Repeat("d/", 24), "x")
	}
	for _, top := range []string{"a", "b"} {
		for i := range 5 {
			writeFile(t, filepath.Join(deep(top), fmt.Sprintf("f%d", i)), []byte(top+fmt.Sprint(i)))
		}
		writeFile(t, filepath.Join(src, top, strings.Repeat("d/", 24), "z"), []byte(top+"z"))
	}
	r := openRepo(t, t.TempDir(), true)
	fds := openFds(t)
	s := swaptest.Start(t, deep("a"), deep("b"))
	moved := 0
	for range swapBackups {
		sn := backupSource(t, r, src)
		walkFiles(t, r, sn, func(p string, n *snapshot.Node, data []byte) {
			if n.Error == "" && (len(data) != 2 || (data[0] != 'a' && data[0] != 'b') || data[1] != p[len(p)-1]) {
				t.Errorf("%s: %q", p, data)
			}
		})
		for _, e := range sn.Summary.Errors {
			if strings.Contains(e, "was moved while being backed up") {
				moved++
			}
		}
	}
	n := s.Stop(t)
	if got := openFds(t); got != fds {
		t.Errorf("%d descriptors open after the backups, %d before", got, fds)
	}
	t.Logf("%d swaps; %d directories reported moved in %d backups", n, moved, swapBackups)
	if n == 0 {
		t.Fatal("the helper made no swaps")
	}
}
