package kopia_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/kopia"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// password is Velero's static default repository password.
const password = "static-passw0rd"

// kopiaCLI runs the real kopia (Velero's fork, built with
// CAIRN_TOOLS_ONLY=kopia hack/build-tools.sh) with its config, cache and
// logs in dir.
func kopiaCLI(t *testing.T, bin, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{
		"HOME=" + dir, "KOPIA_PASSWORD=" + password, "KOPIA_CONFIG_PATH=" + filepath.Join(dir, "repository.config"),
		"KOPIA_CACHE_DIRECTORY=" + filepath.Join(dir, "cache"), "KOPIA_LOG_DIR=" + filepath.Join(dir, "logs"),
		"KOPIA_CHECK_FOR_UPDATES=false", "PATH=" + os.Getenv("PATH"),
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kopia %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// tree fills dir with files of several sizes (one of several chunks: an
// indirect object), folders, a symlink, modes and an owner.
func tree(t *testing.T, dir string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for name, data := range map[string][]byte{
		"hello.txt": []byte("hello\n"), "db/data.bin": random(11 << 20), "db/small.bin": random(70 << 10),
		"db/empty": nil, "deep/a/b/c/leaf.txt": []byte("leaf\n"), "text.log": bytes.Repeat([]byte("compressible line\n"), 10000),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check(t, os.Chmod(filepath.Join(dir, "db/small.bin"), 0o600))
	check(t, os.Chmod(filepath.Join(dir, "deep"), 0o700))
	check(t, os.Chown(filepath.Join(dir, "db/small.bin"), 1234, 5678))
	check(t, os.Symlink("../hello.txt", filepath.Join(dir, "db/link")))
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRealKopia makes a repository with the real kopia on the S3 server,
// as Velero's node agent does (the same kopia module, the bucket prefix
// kopia/<namespace>/, Velero's default password and its metadata
// compression), takes two snapshots, and reads them with the reader:
// every file byte for byte, with its mode, owner, time and symlink
// target. A wrong password and a missing pack are the errors they should
// be.
func TestRealKopia(t *testing.T) {
	bin := kubetest.Tool(t, "kopia")
	srv := s3test.Start(t)
	srv.CreateBucket(t, "velero", false)
	u, err := url.Parse(srv.Endpoint)
	check(t, err)
	dir := t.TempDir()
	src := filepath.Join(dir, "volume")
	tree(t, src, 1)
	kopiaCLI(t, bin, dir, "repository", "create", "s3", "--bucket=velero", "--prefix=cluster-a/kopia/shop/",
		"--endpoint="+u.Host, "--disable-tls", "--region="+s3test.Region,
		"--access-key="+s3test.AccessKey, "--secret-access-key="+s3test.SecretKey)
	kopiaCLI(t, bin, dir, "policy", "set", "--global", "--metadata-compression=zstd-fastest", "--compression=none")
	kopiaCLI(t, bin, dir, "snapshot", "create", src)
	// The next day: one file changed, one added, compression on for it.
	check(t, os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello again\n"), 0o644))
	check(t, os.WriteFile(filepath.Join(src, "new.txt"), bytes.Repeat([]byte("new "), 50000), 0o640))
	kopiaCLI(t, bin, dir, "policy", "set", src, "--compression=zstd")
	kopiaCLI(t, bin, dir, "snapshot", "create", src)
	var listed []struct {
		ID string `json:"id"`
	}
	check(t, json.Unmarshal(kopiaCLI(t, bin, dir, "snapshot", "list", src, "--json"), &listed))
	if len(listed) != 2 {
		t.Fatalf("kopia lists %d snapshots", len(listed))
	}

	ctx := context.Background()
	s := kopia.Prefixed(srv.Store(t, "velero", ""), "cluster-a/kopia/shop/")
	start := time.Now()
	r, err := kopia.Open(ctx, s, []byte(password))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Logf("open (scrypt, %d contents indexed): %s; format %+v", r.Contents(), time.Since(start).Round(time.Millisecond), r.Format())
	snaps, err := r.Snapshots(ctx)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots: %v %v", snaps, err)
	}
	for i, sn := range snaps {
		if sn.ID != listed[i].ID || sn.Source.Path != src || sn.Root.Type != kopia.TypeDir {
			t.Errorf("snapshot %d: %+v, kopia lists %s", i, sn, listed[i].ID)
		}
	}
	start = time.Now()
	compare(t, r, snaps[1], src)
	t.Logf("read and compared the second snapshot: %s", time.Since(start).Round(time.Millisecond))

	// Errors: a wrong password; a pack gone.
	if _, err := kopia.Open(ctx, s, []byte("not it")); !errors.Is(err, kopia.ErrWrongPassword) {
		t.Errorf("open with a wrong password: %v, want ErrWrongPassword", err)
	}
	if _, err := kopia.Open(ctx, kopia.Prefixed(srv.Store(t, "velero", ""), "nothing/"), []byte(password)); !errors.Is(err, kopia.ErrNotKopia) {
		t.Errorf("open an empty prefix: %v, want ErrNotKopia", err)
	}
	var pack string
	check(t, s.List(ctx, "p", func(fi store.Info) error {
		if fi.Size > 5<<20 {
			pack = fi.Key
		}
		return nil
	}))
	if pack == "" {
		t.Fatal("no data pack of more than 5 MiB")
	}
	gone := &missing{Store: s, key: pack}
	r2, err := kopia.Open(ctx, gone, []byte(password))
	check(t, err)
	rc, err := r2.FS(ctx, snaps[1].Root).Open("db/data.bin")
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if !errors.Is(err, kopia.ErrNotFound) || !strings.Contains(err.Error(), pack) {
		t.Errorf("read with pack %s gone: %v, want ErrNotFound naming it", pack, err)
	}
}

// missing is a store without one key.
type missing struct {
	kopia.Store
	key string
}

func (m *missing) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if key == m.key {
		return nil, store.ErrNotFound
	}
	return m.Store.Get(ctx, key, offset, length)
}

// compare walks the snapshot through its io/fs view and checks it
// against the folder it was taken of.
func compare(t *testing.T, r *kopia.Repository, sn *kopia.Snapshot, src string) {
	t.Helper()
	fsys := r.FS(context.Background(), sn.Root)
	seen := 0
	err := filepath.Walk(src, func(p string, want os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		got, err := fs.Lstat(fsys, rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		seen++
		if got.Mode() != want.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, got.Mode(), want.Mode())
		}
		st := want.Sys().(*syscall.Stat_t)
		if uid, gid := got.Sys().(*kopia.Entry).Owner(); uid != st.Uid || gid != st.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, uid, gid, st.Uid, st.Gid)
		}
		if rel != "." && !got.ModTime().Equal(want.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, got.ModTime(), want.ModTime())
		}
		switch {
		case want.Mode()&os.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, err := fs.ReadLink(fsys, rel)
			if err != nil || gl != wl {
				t.Errorf("%s: symlink %q %v, want %q", rel, gl, err, wl)
			}
		case want.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, err := fs.ReadFile(fsys, rel)
			if err != nil || !bytes.Equal(gb, wb) || got.Size() != int64(len(wb)) {
				t.Errorf("%s: read %d bytes (%v), want the %d of the file", rel, len(gb), err, len(wb))
			}
		}
		return nil
	})
	check(t, err)
	if seen < 12 {
		t.Errorf("compared %d entries", seen)
	}
}
