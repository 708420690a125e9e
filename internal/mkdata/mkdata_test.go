package mkdata_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/mkdata"
)

// digest sums up a tree: every entry's path, type, mode, size, content or
// link target, extended attributes, and which entries are the same inode.
func digest(t *testing.T, root string) (string, map[string]int) {
	t.Helper()
	var lines []string
	kinds := map[string]int{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.Size())
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
			kinds["symlink"]++
		case fi.Mode().IsRegular():
			if first, ok := inodes[st.Ino]; ok {
				line += " = " + first
				kinds["hardlink"]++
			} else {
				inodes[st.Ino] = rel
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				line += fmt.Sprintf(" %x", sha256.Sum256(b))
			}
			if st.Blocks*512 < st.Size/2 {
				kinds["sparse"]++
			}
			kinds["file"]++
		case fi.IsDir():
			kinds["dir"]++
			kinds["depth"] = max(kinds["depth"], strings.Count(rel, string(filepath.Separator))+1)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			buf := make([]byte, 4096)
			if n, err := unix.Llistxattr(p, buf); err == nil && n > 0 {
				names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
				sort.Strings(names)
				for _, name := range names {
					v := make([]byte, 4096)
					m, _ := unix.Lgetxattr(p, name, v)
					line += fmt.Sprintf(" %s=%x", name, v[:max(m, 0)])
					kinds["xattr"]++
				}
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n"), kinds
}

// Same arguments, same bytes; another seed, other bytes; and every kind of
// entry is there.
func TestDeterministic(t *testing.T) {
	a, b, c := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	for _, d := range []struct {
		dir  string
		seed uint64
	}{{a, 7}, {b, 7}, {c, 8}} {
		if err := mkdata.Generate(d.dir, 6, d.seed); err != nil {
			t.Fatal(err)
		}
	}
	da, kinds := digest(t, a)
	db, _ := digest(t, b)
	dc, _ := digest(t, c)
	if da != db {
		t.Fatal("two trees of the same arguments differ")
	}
	if da == dc {
		t.Fatal("two seeds made the same tree")
	}
	for _, k := range []string{"file", "dir", "symlink", "hardlink", "sparse"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the dataset (%v)", k, kinds)
		}
	}
	if kinds["depth"] < 40 {
		t.Errorf("the deepest folder is %d deep, want 40 or more", kinds["depth"])
	}
	if err := unix.Lsetxattr(filepath.Join(t.TempDir()), "user.probe", []byte("x"), 0); err == nil && kinds["xattr"] == 0 {
		t.Error("the file system takes extended attributes, the dataset has none")
	}
	if err := mkdata.Generate(a, 1, 1); err == nil {
		t.Error("Generate into a directory that is not empty did not fail")
	}

	for _, dir := range []string{a, b} {
		if err := mkdata.Mutate(dir, 5, 3); err != nil {
			t.Fatal(err)
		}
	}
	ma, _ := digest(t, a)
	mb, _ := digest(t, b)
	if ma != mb {
		t.Fatal("the same mutation of the same tree differs")
	}
	if ma == da {
		t.Fatal("Mutate changed nothing")
	}
}
