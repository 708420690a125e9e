package archiver_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/restorer"
)

// TestRunFS backs up an in-memory tree and restores it: contents, modes,
// times and symlinks come back; an entry of another type is reported.
func TestRunFS(t *testing.T) {
	r := openRepo(t, t.TempDir(), true)
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // several chunks
	fsys := fstest.MapFS{
		".":            {Mode: fs.ModeDir | 0o750, ModTime: mtime},
		"a.txt":        {Data: []byte("hello"), Mode: 0o640, ModTime: mtime},
		"sub":          {Mode: fs.ModeDir | 0o755, ModTime: mtime},
		"sub/big.bin":  {Data: big, Mode: 0o600, ModTime: mtime},
		"sub/empty":    {Mode: 0o644, ModTime: mtime},
		"sub/link":     {Data: []byte("../a.txt"), Mode: fs.ModeSymlink | 0o777, ModTime: mtime},
		"sub/setuid":   {Data: []byte("x"), Mode: fs.ModeSetuid | 0o755, ModTime: mtime},
		"sub/a-socket": {Mode: fs.ModeSocket | 0o600, ModTime: mtime},
	}
	sn, err := archiver.RunFS(context.Background(), r, fsys, archiver.Options{
		Paths: []string{"/imported/vol"}, Host: "node-1", Labels: map[string]string{"k": "v"}, Program: "test",
	})
	if !errors.Is(err, archiver.ErrPartial) || sn == nil || len(sn.Summary.Errors) != 1 {
		t.Fatalf("RunFS: %v (want ErrPartial for the socket), snapshot %+v", err, sn)
	}
	if sn.Summary.FilesNew != 4 || sn.Summary.TotalBytes != int64(len(big)+6) || sn.Root == nil || sn.Root.Mode != 0o750 || sn.Labels["k"] != "v" {
		t.Fatalf("snapshot %+v summary %+v root %+v", sn, sn.Summary, sn.Root)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := restorer.Run(context.Background(), r, sn, restorer.Options{Target: dir, RootMeta: true}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for name, want := range map[string][]byte{"a.txt": []byte("hello"), "sub/big.bin": big, "sub/empty": nil, "sub/setuid": []byte("x")} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
	for name, mode := range map[string]fs.FileMode{".": fs.ModeDir | 0o750, "a.txt": 0o640, "sub/big.bin": 0o600, "sub/setuid": fs.ModeSetuid | 0o755} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != mode || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: %v %v, want %v %v (%v)", name, fi.Mode(), fi.ModTime(), mode, mtime, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "sub/link")); err != nil || target != "../a.txt" {
		t.Errorf("symlink: %q %v", target, err)
	}
}
