package restorer_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/swaptest"
)

func TestMain(m *testing.M) {
	swaptest.Main()
	os.Exit(m.Run())
}

// swapRestores is how many restores race a swapper in each swap test.
const swapRestores = 50

// tree lists a directory tree without following symlinks: every entry
// (the directory itself as ".") with its type, mode, owner and size.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = fmt.Sprintf("%v %d:%d %d", fi.Mode(), st.Uid, st.Gid, fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changes lists how after differs from before.
func changes(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if w, ok := before[k]; !ok {
			out = append(out, "new "+k)
		} else if w != v {
			out = append(out, k+": "+w+" -> "+v)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, "gone "+k)
		}
	}
	sort.Strings(out)
	return out
}

// outsideDir makes the directory an attacker points a symlink at: one
// file, mode 0700.
func outsideDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outside")
	write(t, filepath.Join(dir, "precious"), []byte("must stay as it is"))
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// resetOutside undoes what a restore did to dir: new entries removed,
// the mode put back. It reports whether there was anything to undo.
func resetOutside(t *testing.T, dir string, before map[string]string) []string {
	t.Helper()
	diff := changes(before, tree(t, dir))
	for _, c := range diff {
		if name, ok := strings.CutPrefix(c, "new "); ok {
			os.RemoveAll(filepath.Join(dir, name))
		}
	}
	os.Chmod(dir, 0o700)
	os.Chown(dir, os.Getuid(), os.Getgid())
	return diff
}

// plant makes name in dir a directory and evil a symlink to outside,
// whatever a restore or a swapper left there.
func plant(t *testing.T, name, evil, outside string, isDir bool) {
	t.Helper()
	for _, p := range []string{name, evil} {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
		case p == evil && fi.Mode()&os.ModeSymlink != 0:
			continue
		case p == name && isDir && fi.IsDir():
			continue
		case p == name && !isDir && fi.Mode().IsRegular():
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		switch {
		case p == evil:
			err = os.Symlink(outside, evil)
		case isDir:
			err = os.Mkdir(name, 0o755)
		default:
			err = os.WriteFile(name, []byte("local"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// raceSwaps restores sn into target swapRestores times while a helper
// process exchanges target/name (a directory when isDir, else a file) with
// target/evil, a symlink to an outside directory. Nothing outside may be
// created or changed.
func raceSwaps(t *testing.T, r *repo.Repository, sn *snapshot.Snapshot, name string, isDir bool) {
	ctx := context.Background()
	outside := outsideDir(t)
	before := tree(t, outside)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(target, name), filepath.Join(target, "evil")
	swaps, wrote, files, partial := 0, 0, int64(0), 0
	var first []string
	for i := 0; i < swapRestores; i++ {
		plant(t, a, b, outside, isDir)
		s := swaptest.Start(t, a, b)
		res, err := restorer.Run(ctx, r, sn, restorer.Options{Target: target})
		swaps += s.Stop(t)
		if err != nil && !errors.Is(err, restorer.ErrPartial) {
			t.Fatalf("restore %d: %v", i, err)
		}
		if err != nil {
			partial++
		}
		files += res.Files
		if diff := resetOutside(t, outside, before); len(diff) > 0 {
			wrote++
			if first == nil {
				first = diff
			}
		}
	}
	t.Logf("%d restores, %d swaps, %d files restored, %d restores reported refused entries", swapRestores, swaps, files, partial)
	if swaps == 0 {
		t.Fatal("the helper swapped nothing")
	}
	if files == 0 {
		t.Fatal("no file was restored: the race tested nothing")
	}
	if wrote > 0 {
		if len(first) > 5 {
			first = append(first[:5], "...")
		}
		t.Errorf("%d of %d restores wrote outside the target; the first:\n%s", wrote, swapRestores, strings.Join(first, "\n"))
	}
}

// swapSnapshot backs up a tree with dir/ holding files f000… (mode 0777)
// and a file data.txt beside it.
func swapSnapshot(t *testing.T, files int) (*repo.Repository, *snapshot.Snapshot) {
	t.Helper()
	r, _ := newRepo(t)
	src := t.TempDir()
	for i := 0; i < files; i++ {
		write(t, filepath.Join(src, "dir", fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("file %d", i)))
	}
	write(t, filepath.Join(src, "data.txt"), []byte("from the backup"))
	if err := os.Chmod(filepath.Join(src, "dir"), 0o777); err != nil {
		t.Fatal(err)
	}
	sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	return r, sn
}

// TestSwappedDirectoryStaysInside: a directory of the target is swapped
// with a symlink to an outside directory, over and over, while the
// snapshot is restored into it. The restore may refuse the directory
// when it meets the symlink, but nothing outside is ever created or
// changed.
func TestSwappedDirectoryStaysInside(t *testing.T) {
	r, sn := swapSnapshot(t, 40)
	raceSwaps(t, r, sn, "dir", true)
}

// TestSwappedFileStaysInside: the same with a file of the target.
func TestSwappedFileStaysInside(t *testing.T) {
	r, sn := swapSnapshot(t, 40)
	raceSwaps(t, r, sn, "data.txt", false)
}
