package restorer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestGoldenRepositoryV1 pins the repository format: testdata/golden-v1 was
// written by cairn (format version 1) and must stay readable, byte for byte,
// by every later version. Never regenerate it; add a golden-v2 instead.
func TestGoldenRepositoryV1(t *testing.T) {
	ctx := context.Background()
	// Copy: opening must not need to write, but the store wants a writable dir.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/golden-v1")); err != nil {
		t.Fatal(err)
	}
	// Every object but config is named by the SHA-256 of its bytes.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "config" {
			return err
		}
		b, _ := os.ReadFile(p)
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != d.Name() {
			t.Errorf("%s: name is not the SHA-256 of its content", p)
		}
		return nil
	})
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s, []byte("golden-fixture"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sn, err := snapshot.Find(ctx, r, "latest", snapshot.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if sn.Host != "fixture" || len(sn.Tags) != 1 || sn.Tags[0] != "golden" || !strings.HasPrefix(sn.ID, "b88a5c6d") {
		t.Fatalf("snapshot %s host %q tags %v", sn.ID, sn.Host, sn.Tags)
	}
	// Blob IDs are the keyed hash of the content: "hello cairn\n" is stored
	// under the ID this repository's key gives it.
	tree, err := snapshot.LoadTree(ctx, r, sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	hello := tree.Find("hello.txt")
	if hello == nil || len(hello.Content) != 1 || hello.Content[0] != r.BlobID([]byte("hello cairn\n")) {
		t.Fatalf("hello.txt node %+v", hello)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Verify: true}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"hello.txt":      "0da5290841b9d348bcd992cdae451553b669f437bda5ec3eeacddbf7a3673524",
		"sub/random.bin": "ac4660530ca27737632410d5b1840a52389bd6d323d7da526c952123884cbd54",
		"sub/log.txt":    "5db91ed1932c9dcf1cf49c4a2526e2269a5457c077a54b71a01559719992a558",
	} {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: content differs from the fixture", name)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "hello.txt" {
		t.Errorf("link -> %q, %v", target, err)
	}
	fi, err := os.Stat(filepath.Join(dst, "hello.txt"))
	if err != nil || !fi.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.Local)) {
		t.Errorf("hello.txt mtime %v", fi.ModTime())
	}
	if fi, err := os.Stat(filepath.Join(dst, "emptydir")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not restored: %v", err)
	}
}
