package archiver_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/swaptest"
)

// Names of TestBoundedFds's tree: 300 levels of them make its deepest
// paths longer than PATH_MAX (4096), so only a descriptor-relative walk
// can read it at all.
const (
	fdsDepth, fdsLimit = 300, 80
	levelName          = "dxxxxxxxxxxxxxxx"
)

// TestBoundedFds backs up, in a child process with RLIMIT_NOFILE 80, a
// tree of 300 levels whose paths exceed PATH_MAX: the walker must not
// hold a descriptor per level, nor use paths to reach an entry.
func TestBoundedFds(t *testing.T) {
	src, repoDir := t.TempDir(), t.TempDir()
	deepTree(t, src)
	r := openRepo(t, repoDir, true)

	cmd := exec.Command(os.Args[0], "-test.run=^TestBoundedFdsChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CAIRN_FDS_CHILD=1", "CAIRN_FDS_REPO="+repoDir, "CAIRN_FDS_SRC="+src)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "snapshots: "); ok {
			ids = strings.Fields(rest)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("child printed no snapshots:\n%s", out)
	}
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		sn, err := loadSnap(r, id)
		if err != nil {
			t.Fatal(err)
		}
		levels := 0
		walkFiles(t, r, sn, func(p string, n *snapshot.Node, data []byte) {
			if want := fmt.Sprintf("level %d", strings.Count(p, "/"+levelName)-1); string(data) != want || n.Error != "" {
				t.Errorf("%s: %q (error %q), want %q", p, data, n.Error, want)
			}
			levels++
		})
		if levels != fdsDepth {
			t.Errorf("snapshot %d holds %d levels, want %d", i, levels, fdsDepth)
		}
		if i == 1 && sn.Summary.FilesUnchanged != fdsDepth {
			t.Errorf("second backup: %d files unchanged, want %d", sn.Summary.FilesUnchanged, fdsDepth)
		}
	}
}

// TestBoundedFdsChild is the process TestBoundedFds starts; it does
// nothing unless started by it. It lowers RLIMIT_NOFILE, backs the tree up
// twice (the second incremental), scans it, and prints the snapshot IDs.
func TestBoundedFdsChild(t *testing.T) {
	if os.Getenv("CAIRN_FDS_CHILD") != "1" {
		return
	}
	src := os.Getenv("CAIRN_FDS_SRC")
	r := openRepo(t, os.Getenv("CAIRN_FDS_REPO"), false)
	fds := openFds(t)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: fdsLimit, Max: fdsLimit}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatalf("first backup under RLIMIT_NOFILE %d: %v", fdsLimit, err)
	}
	second, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}, Parent: first})
	if err != nil {
		t.Fatalf("second backup under RLIMIT_NOFILE %d: %v", fdsLimit, err)
	}
	if files, _, err := archiver.Scan(ctx, []string{src}, nil); err != nil || files != fdsDepth {
		t.Errorf("scan under RLIMIT_NOFILE %d: %d files, %v; want %d", fdsLimit, files, err, fdsDepth)
	}
	if n := openFds(t); n != fds {
		t.Errorf("%d descriptors open after the backups, %d before", n, fds)
	}
	fmt.Printf("snapshots: %s %s\n", first.ID, second.ID)
}

// deepTree makes fdsDepth levels of levelName under root, each with a
// file f holding "level N", through descriptors (the paths are too long).
func deepTree(t *testing.T, root string) {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fdsDepth {
		if err := unix.Mkdirat(fd, levelName, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, levelName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		f, err := unix.Openat(fd, "f", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = unix.Write(f, []byte(fmt.Sprintf("level %d", i)))
		unix.Close(f)
		if err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(fd)
	if len(root)+fdsDepth*(len(levelName)+1) <= unix.PathMax {
		t.Fatalf("tree paths not longer than PATH_MAX")
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
