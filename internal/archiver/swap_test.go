package archiver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/swaptest"
)

func TestMain(m *testing.M) {
	swaptest.Main()
	os.Exit(m.Run())
}

// swapBackups is how many backups each swap test makes while the helper
// swaps. The path-based walk this package had before leaked the outside
// file in 5 to 12 of 50 (on 2 busy cores, -race).
const swapBackups = 50

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// secretBytes returns unique content that must never reach a snapshot.
func secretBytes(t *testing.T) []byte {
	t.Helper()
	return []byte(fmt.Sprintf("SECRET-%x", randomBytes(t, 64)))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// backupSource backs up src, accepting a partial snapshot (entries that
// changed are reported, not fatal).
func backupSource(t *testing.T, r *repo.Repository, src string) *snapshot.Snapshot {
	t.Helper()
	sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}})
	if err != nil && !(errors.Is(err, archiver.ErrPartial) && sn != nil) {
		t.Fatalf("backup: %v", err)
	}
	return sn
}

// walkFiles calls fn for every file node of a snapshot with its content.
func walkFiles(t *testing.T, r *repo.Repository, sn *snapshot.Snapshot, fn func(path string, n *snapshot.Node, data []byte)) {
	t.Helper()
	ctx := context.Background()
	var walk func(id blob.ID, dir string)
	walk = func(id blob.ID, dir string) {
		tree, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			t.Fatalf("load tree %s: %v", dir, err)
		}
		for i := range tree.Nodes {
			n := &tree.Nodes[i]
			p := dir + "/" + n.Name
			switch n.Type {
			case snapshot.TypeDir:
				if n.Subtree != nil {
					walk(*n.Subtree, p)
				}
			case snapshot.TypeFile:
				var data []byte
				for _, c := range n.Content {
					b, err := r.LoadBlob(ctx, blob.Data, c, nil)
					if err != nil {
						t.Fatalf("load %s: %v", p, err)
					}
					data = append(data, b...)
				}
				fn(p, n, data)
			}
		}
	}
	walk(sn.Tree, "")
}

// swapRun backs src up swapBackups times while a and b are swapped and
// fails if any snapshot holds secret.
func swapRun(t *testing.T, src, a, b string, secret []byte) {
	t.Helper()
	r := openRepo(t, t.TempDir(), true)
	s := swaptest.Start(t, a, b)
	leaked, reported := 0, 0
	fds := openFds(t)
	for i := 0; i < swapBackups; i++ {
		sn := backupSource(t, r, src)
		leak := false
		walkFiles(t, r, sn, func(p string, n *snapshot.Node, data []byte) {
			if bytes.Contains(data, secret) {
				leak = true
			}
		})
		if leak {
			leaked++
		}
		if len(sn.Summary.Errors) > 0 {
			reported++
		}
	}
	if n := openFds(t); n != fds {
		t.Errorf("%d descriptors open after the backups, %d before", n, fds)
	}
	n := s.Stop(t)
	t.Logf("%d swaps; %d of %d backups leaked the outside file; %d reported replaced entries", n, leaked, swapBackups, reported)
	if n == 0 {
		t.Fatal("the helper made no swaps")
	}
	if leaked > 0 {
		t.Errorf("%d of %d backups hold the content of a file outside the source", leaked, swapBackups)
	}
}

// TestSwapFileForSymlink exchanges a file of the source with a symlink to
// a file outside it while backups run: no snapshot may hold the outside
// file's content.
func TestSwapFileForSymlink(t *testing.T) {
	src, outside, stage := t.TempDir(), t.TempDir(), t.TempDir()
	secret := secretBytes(t)
	writeFile(t, filepath.Join(outside, "secret"), secret)
	// Files of some size so that the file swapped waits in the workers'
	// queue for a while between its stat and its open.
	for i := range 20 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("file%02d", i)), randomBytes(t, 64<<10))
	}
	link := filepath.Join(stage, "link")
	if err := os.Symlink(filepath.Join(outside, "secret"), link); err != nil {
		t.Fatal(err)
	}
	swapRun(t, src, filepath.Join(src, "file10"), link, secret)
}

// TestSwapDirForSymlink exchanges a directory of the source with a symlink
// to a directory outside it that has files of the same names.
func TestSwapDirForSymlink(t *testing.T) {
	src, outside, stage := t.TempDir(), t.TempDir(), t.TempDir()
	secret := secretBytes(t)
	for i := range 20 {
		name := fmt.Sprintf("f%02d", i)
		writeFile(t, filepath.Join(src, "sub", name), []byte("inside "+name))
		writeFile(t, filepath.Join(outside, name), append([]byte(name), secret...))
	}
	writeFile(t, filepath.Join(src, "other"), []byte("inside"))
	link := filepath.Join(stage, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	swapRun(t, src, filepath.Join(src, "sub"), link, secret)
}

// TestIdentityChangeReported exchanges two files of the source: a file
// whose name points to another inode when it is opened is reported and
// its content not saved, and a saved file's content is that of the inode
// recorded for it.
func TestIdentityChangeReported(t *testing.T) {
	src := t.TempDir()
	a, b := filepath.Join(src, "a"), filepath.Join(src, "b")
	content := map[string][]byte{"a": bytes.Repeat([]byte("A"), 5000), "b": bytes.Repeat([]byte("B"), 7000)}
	writeFile(t, a, content["a"])
	writeFile(t, b, content["b"])
	ino := map[uint64][]byte{}
	for _, name := range []string{"a", "b"} {
		fi, err := os.Lstat(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		ino[inodeOf(fi)] = content[name]
	}
	r := openRepo(t, t.TempDir(), true)
	s := swaptest.Start(t, a, b)
	reported := 0
	for i := 0; i < swapBackups; i++ {
		sn := backupSource(t, r, src)
		walkFiles(t, r, sn, func(p string, n *snapshot.Node, data []byte) {
			if n.Error != "" {
				if len(n.Content) > 0 {
					t.Errorf("%s: error %q but content kept", p, n.Error)
				}
				return
			}
			if want := ino[n.Inode]; !bytes.Equal(data, want) {
				t.Errorf("%s: content of %d bytes is not that of its inode %d (%d bytes)", p, len(data), n.Inode, len(want))
			}
		})
		for _, e := range sn.Summary.Errors {
			if !strings.Contains(e, archiver.ErrChanged.Error()) {
				t.Errorf("unexpected error: %s", e)
				continue
			}
			reported++
		}
	}
	n := s.Stop(t)
	t.Logf("%d swaps; %d entries reported as replaced in %d backups", n, reported, swapBackups)
	if n == 0 || reported == 0 {
		t.Fatalf("swaps %d, replaced entries reported %d: want both > 0", n, reported)
	}
}
