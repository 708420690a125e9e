package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newLocal(t) })
}

func newLocal(t *testing.T) *Local {
	t.Helper()
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tempFiles returns the names in the temporary area.
func tempFiles(t *testing.T, l *Local) []string {
	t.Helper()
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x", "y")
	l, err := New(dir)
	if err != nil {
		t.Fatalf("New(%s) = %v", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("New made %s with mode %v, want a 0700 directory", dir, fi.Mode())
	}
	if l.Location() != dir {
		t.Errorf("Location() = %q, want %q", l.Location(), dir)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); err == nil {
		t.Errorf("New(%s) on a file succeeded", file)
	}
}

func TestKeyIsFile(t *testing.T) {
	l := newLocal(t)
	if err := l.Put(context.Background(), "a/b/c", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(l.Location(), "a", "b", "c")
	got, err := os.ReadFile(file)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadFile(%s) = %q, %v; want abc", file, got, err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o222 != 0 || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("object mode %v, want owner read-only", fi.Mode())
	}
}

func TestNoTempLeft(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t)
	for _, key := range []string{"k1", "d/k2", "d/k3", "k1", "d/k2", "bad//key"} {
		l.Put(ctx, key, []byte(key)) // some fail, on purpose
	}
	if names := tempFiles(t, l); len(names) != 0 {
		t.Errorf("temporary files left after Puts: %v", names)
	}
	// Every file in the store is an object.
	err := filepath.WalkDir(l.Location(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(l.Location(), p)
		if _, err := l.Stat(ctx, filepath.ToSlash(rel)); err != nil {
			t.Errorf("file %s is not an object: %v", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	l := newLocal(t)
	errBoom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tt := range []struct {
		name string
		hook func() error
		want error
	}{
		{"error before link", func() error { return errBoom }, errBoom},
		{"ctx cancelled before link", func() error { cancel(); return nil }, context.Canceled},
	} {
		l.beforeLink = tt.hook
		err := l.Put(ctx, "data/k", []byte("data"))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Put = %v, want %v", tt.name, err, tt.want)
		}
		if _, err := l.Stat(context.Background(), "data/k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: Stat after failed Put = %v, want ErrNotFound", tt.name, err)
		}
		if names := tempFiles(t, l); len(names) != 0 {
			t.Errorf("%s: temporary files left: %v", tt.name, names)
		}
	}
}

func TestTempAreaRecreated(t *testing.T) {
	l := newLocal(t)
	if err := os.RemoveAll(l.tmp); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(context.Background(), "k", []byte("k")); err != nil {
		t.Errorf("Put without a temporary area = %v", err)
	}
}

func TestStrayTempFiles(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t)
	if err := l.Put(ctx, "obj", []byte("obj")); err != nil {
		t.Fatal(err)
	}
	old, fresh := filepath.Join(l.tmp, "put-old"), filepath.Join(l.tmp, "put-fresh")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := l.List(ctx, "", func(i store.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "obj" {
		t.Errorf("List = %v, want [obj]", keys)
	}
	n, err := l.CleanTemp(time.Hour)
	if err != nil || n != 1 {
		t.Errorf("CleanTemp = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestForeignFilesIgnored(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t)
	if err := l.Put(ctx, "data/k", []byte("k")); err != nil {
		t.Fatal(err)
	}
	root := l.Location()
	for _, p := range []string{"lost+found/x", "data/bad name", "data/sub dir/x", "x~"} {
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "data", "k"), filepath.Join(root, "data", "link")); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "data/", "l", "x"} {
		var keys []string
		if err := l.List(ctx, prefix, func(i store.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		want := ""
		if strings.HasPrefix("data/k", prefix) {
			want = "data/k"
		}
		if strings.Join(keys, ",") != want {
			t.Errorf("List(%q) = %v, want [%s]", prefix, keys, want)
		}
	}
}

func TestDirectoryKeyConflict(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t)
	for _, key := range []string{"a/b", "x"} {
		if err := l.Put(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	// "a" is a directory, "x/y" would need "x" to be one.
	for _, key := range []string{"a", "x/y"} {
		err := l.Put(ctx, key, []byte("new"))
		if err == nil || errors.Is(err, store.ErrExists) {
			t.Errorf("Put(%q) = %v, want an error other than ErrExists", key, err)
		}
		if _, err := l.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
	}
	for _, key := range []string{"a/b", "x"} {
		if got, err := store.ReadAll(ctx, l, key); err != nil || string(got) != key {
			t.Errorf("ReadAll(%q) = %q, %v", key, got, err)
		}
	}
}
