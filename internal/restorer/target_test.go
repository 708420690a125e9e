package restorer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/restorer"
)

type owned struct {
	mode     os.FileMode
	uid, gid uint32
}

func ownedBy(t *testing.T, path string) owned {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return owned{fi.Mode(), st.Uid, st.Gid}
}

// TestExistingTargetKeepsItsModeAndOwner: restoring into a directory that
// exists (the target, or a directory in it) adds entries to it and leaves
// its owner and mode alone; a directory the restore creates gets the
// snapshot's.
func TestExistingTargetKeepsItsModeAndOwner(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "sub", "a.txt"), []byte("a"))
	write(t, filepath.Join(src, "new", "b.txt"), []byte("b"))
	for _, p := range []string{src, filepath.Join(src, "sub"), filepath.Join(src, "new")} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	root := os.Geteuid() == 0
	if root {
		for _, p := range []string{src, filepath.Join(src, "sub"), filepath.Join(src, "new")} {
			if err := os.Chown(p, 1111, 2222); err != nil {
				t.Fatal(err)
			}
		}
	}
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "dst")
	write(t, filepath.Join(dst, "sub", "local.txt"), []byte("local"))
	if err := os.Chmod(dst, 0o751); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dst, "sub"), 0o705); err != nil {
		t.Fatal(err)
	}
	if root {
		if err := os.Chown(filepath.Join(dst, "sub"), 3333, 4444); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]owned{".": ownedBy(t, dst), "sub": ownedBy(t, filepath.Join(dst, "sub"))}
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range before {
		if got := ownedBy(t, filepath.Join(dst, rel)); got != want {
			t.Errorf("existing %s: %+v after the restore, want %+v as before", rel, got, want)
		}
	}
	if got, want := ownedBy(t, filepath.Join(dst, "new")), ownedBy(t, filepath.Join(src, "new")); got != want {
		t.Errorf("created directory new: %+v, want the snapshot's %+v", got, want)
	}
	for _, rel := range []string{"sub/a.txt", "sub/local.txt", "new/b.txt"} {
		if _, err := os.Stat(filepath.Join(dst, rel)); err != nil {
			t.Error(err)
		}
	}

	// RootMeta (a volume's top folder): the existing target gets the
	// snapshot root's metadata; an existing directory in it still not.
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, RootMeta: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := ownedBy(t, dst), ownedBy(t, src); got != want {
		t.Errorf("existing target with RootMeta: %+v, want the snapshot's %+v", got, want)
	}
	if got := ownedBy(t, filepath.Join(dst, "sub")); got != before["sub"] {
		t.Errorf("existing sub with RootMeta: %+v, want %+v as before", got, before["sub"])
	}

	// Owned (a retried restore into its own volume): existing directories,
	// made by the earlier attempt, get the snapshot's metadata and times.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "sub"), old, old); err != nil {
		t.Fatal(err)
	}
	sn2, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restorer.Run(ctx, r, sn2, restorer.Options{Target: dst, Owned: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := ownedBy(t, filepath.Join(dst, "sub")), ownedBy(t, filepath.Join(src, "sub")); got != want {
		t.Errorf("existing sub with Owned: %+v, want the snapshot's %+v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dst, "sub")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("existing sub with Owned: mtime %v (%v), want the snapshot's %v", fi.ModTime(), err, old)
	}

	// A target the restore creates gets the snapshot root's mode.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: fresh}); err != nil {
		t.Fatal(err)
	}
	if got, want := ownedBy(t, fresh), ownedBy(t, src); got != want {
		t.Errorf("created target: %+v, want the snapshot's %+v", got, want)
	}
}

// TestTargetSymlinkRefused: a target that is a symlink is not followed;
// nothing is written where it points.
func TestTargetSymlinkRefused(t *testing.T) {
	ctx := context.Background()
	r, sn := swapSnapshot(t, 3)
	outside := outsideDir(t)
	before := tree(t, outside)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(outside, target); err != nil {
		t.Fatal(err)
	}
	_, err := restorer.Run(ctx, r, sn, restorer.Options{Target: target})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("restore into a symlink: %v, want it refused", err)
	}
	if diff := changes(before, tree(t, outside)); len(diff) > 0 {
		t.Errorf("the symlink's target changed: %v", diff)
	}
}

// TestNonDirectoryWhereDirectoryIsRefused: where the snapshot has a
// directory, a file of that name in the target is kept (and reported) and
// a symlink of that name is not followed; the rest is restored.
func TestNonDirectoryWhereDirectoryIsRefused(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "isfile", "x.txt"), []byte("x"))
	write(t, filepath.Join(src, "islink", "y.txt"), []byte("y"))
	write(t, filepath.Join(src, "ok", "z.txt"), []byte("z"))
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	outside := outsideDir(t)
	before := tree(t, outside)
	dst := t.TempDir()
	write(t, filepath.Join(dst, "isfile"), []byte("a local file"))
	if err := os.Symlink(outside, filepath.Join(dst, "islink")); err != nil {
		t.Fatal(err)
	}
	res, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst})
	if !errors.Is(err, restorer.ErrPartial) || len(res.Errors) != 2 {
		t.Fatalf("restore: %v, errors %q; want the two entries refused", err, res.Errors)
	}
	for _, e := range res.Errors {
		if !strings.Contains(e, "not a directory") {
			t.Errorf("error %q does not say why", e)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "isfile")); err != nil || string(b) != "a local file" {
		t.Errorf("isfile: %q, %v; want the local file kept", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "islink")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("islink: %v, %v; want the symlink kept", fi, err)
	}
	if diff := changes(before, tree(t, outside)); len(diff) > 0 {
		t.Errorf("the symlink's target changed: %v", diff)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "ok", "z.txt")); err != nil || string(b) != "z" {
		t.Errorf("ok/z.txt: %q, %v", b, err)
	}
}

// TestDeepAndWideTree restores a tree deeper and wider than the number of
// directory descriptors the restorer keeps open, so that directories are
// closed and opened again; the result is the same tree and no descriptor
// is left open.
func TestDeepAndWideTree(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	deep := src
	for i := 0; i < 150; i++ {
		deep = filepath.Join(deep, "d")
		write(t, filepath.Join(deep, "f"), []byte(deep))
	}
	for i := 0; i < 150; i++ {
		write(t, filepath.Join(src, "wide", string(rune('a'+i%26))+strings.Repeat("x", i/26), "f"), []byte{byte(i)})
	}
	// Modes that a directory gets only once its entries are in.
	if err := os.Chmod(filepath.Join(src, "d", "d"), 0o500); err != nil {
		t.Fatal(err)
	}
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	open := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	fds := open()
	dst := filepath.Join(t.TempDir(), "dst")
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Verify: true, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	if n := open(); n > fds {
		t.Errorf("%d descriptors open after the restore, %d before", n, fds)
	}
	diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{ModTime: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestHardLinksAcrossDirectories: names of one file in several
// directories, the first in a directory walked (and otherwise finished)
// long before the others: every name is linked, and every directory gets
// its metadata, times included.
func TestHardLinksAcrossDirectories(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "p", "x", "f"), []byte("one file, three names"))
	for _, l := range []string{"p/y/g", "q/h"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, l)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(src, "p", "x", "f"), filepath.Join(src, l)); err != nil {
			t.Fatal(err)
		}
	}
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, d := range []string{"p/x", "p/y", "p", "q"} {
		if err := os.Chmod(filepath.Join(src, d), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(src, d), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	res, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Links != 2 {
		t.Errorf("%d hard links made, want 2", res.Links)
	}
	diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{ModTime: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}
