package restorer_test

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

var pass = []byte("correct horse battery staple")

func newRepo(t *testing.T) (*repo.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, pass, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, dir
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sampleTree builds a directory with every kind of entry the format records.
func sampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 5<<20+123)
	rng.Read(big)
	write(t, filepath.Join(root, "big.bin"), big)
	write(t, filepath.Join(root, "text.log"), bytes.Repeat([]byte("info request ok id=42\n"), 100000))
	write(t, filepath.Join(root, "empty"), nil)
	write(t, filepath.Join(root, "a", "b", "c", "deep.txt"), []byte("deep"))
	write(t, filepath.Join(root, "dup1", "same"), big[:300000])
	write(t, filepath.Join(root, "dup2", "same"), big[:300000])
	write(t, filepath.Join(root, "name with spaces é ü 日本"), []byte("unicode"))
	write(t, filepath.Join(root, "bad\xffname"), []byte("not utf-8"))
	if err := os.MkdirAll(filepath.Join(root, "emptydir", "nested-empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c/deep.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "text.log"), filepath.Join(root, "a", "hardlink.log")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Sparse: 64 MiB with data at the start and the end.
	f, err := os.Create(filepath.Join(root, "sparse.img"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("head"))
	f.WriteAt([]byte("tail"), 64<<20)
	f.Close()
	write(t, filepath.Join(root, "exec.sh"), []byte("#!/bin/sh\n"))
	os.Chmod(filepath.Join(root, "exec.sh"), 0o4755)
	os.Chmod(filepath.Join(root, "a", "b"), 0o711)
	if err := unix.Lsetxattr(filepath.Join(root, "text.log"), "user.cairn", []byte("xattr value"), 0); err != nil {
		t.Logf("xattrs not supported here: %v", err)
	}
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(root, "empty"), 1234, 5678)
		os.Lchown(filepath.Join(root, "link"), 4321, 8765)
		unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	os.Chtimes(filepath.Join(root, "big.bin"), mt, mt)
	ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "link"), ts, unix.AT_SYMLINK_NOFOLLOW)
	os.Chtimes(filepath.Join(root, "emptydir"), mt, mt)
	return root
}

func TestRoundTripWithMetadata(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := sampleTree(t)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "restore")
	res, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Verify: true})
	if err != nil {
		t.Fatalf("restore: %v (%+v)", err, res)
	}
	diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{ModTime: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dst, "sparse.img"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 16<<20 {
		t.Errorf("sparse file restored with %d bytes allocated, want holes", st.Blocks*512)
	}
	if res.Verified == 0 {
		t.Error("verify checked no files")
	}
}

func TestRestoreKeepsOtherFilesAndOverwritesSameNames(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "data", "a.txt"), []byte("from backup"))
	write(t, filepath.Join(src, "b.txt"), []byte("backup b"))
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	write(t, filepath.Join(dst, "data", "a.txt"), []byte("local change that must be overwritten"))
	write(t, filepath.Join(dst, "data", "other.txt"), []byte("local file that must stay"))
	write(t, filepath.Join(dst, "keep.txt"), []byte("keep me"))
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"data/a.txt": "from backup", "b.txt": "backup b", "data/other.txt": "local file that must stay", "keep.txt": "keep me",
	} {
		got, err := os.ReadFile(filepath.Join(dst, path))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
}

func TestIncrementalDoesNotReadUnchangedFiles(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := sampleTree(t)
	first, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "a", "new.txt"), []byte("new file"))
	second, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}, Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	if second.Summary.BytesRead != int64(len("new file")) {
		t.Errorf("second backup read %d bytes, want only the new file's 8", second.Summary.BytesRead)
	}
	if second.Summary.FilesNew != 1 || second.Summary.FilesUnchanged == 0 {
		t.Errorf("summary %+v", second.Summary)
	}
	if second.Parent != first.ID {
		t.Errorf("parent = %q, want %q", second.Parent, first.ID)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, second, restorer.Options{Target: dst, Verify: true}); err != nil {
		t.Fatal(err)
	}
	diffs, _ := dirdiff.Compare(src, dst, dirdiff.Options{ModTime: true})
	for _, d := range diffs {
		t.Error(d)
	}
}

func TestIncludeRestoresOnlySelectedPaths(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := sampleTree(t)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Include: []string{"a/b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "a", "b", "c", "deep.txt")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "big.bin")); err == nil {
		t.Error("big.bin restored though not included")
	}
	if _, err := os.Stat(filepath.Join(dst, "a", "hardlink.log")); err == nil {
		t.Error("a/hardlink.log restored though not included")
	}
}

func TestReopenAndDedup(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	src := sampleTree(t)
	if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}}); err != nil {
		t.Fatal(err)
	}
	s, _ := local.New(dir)
	r2, err := repo.Open(ctx, s, pass, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	// No parent: everything is read again but nothing new is stored.
	sn, err := archiver.Run(ctx, r2, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	if sn.Summary.BlobsAdded != 0 {
		t.Errorf("re-backup added %d blobs, want 0", sn.Summary.BlobsAdded)
	}
	all, err := snapshot.List(ctx, r2)
	if err != nil || len(all) != 2 {
		t.Fatalf("%d snapshots, %v", len(all), err)
	}
	if _, err := repo.Open(ctx, s, []byte("wrong"), repo.Options{}); err == nil {
		t.Fatal("opened with a wrong passphrase")
	}
}
