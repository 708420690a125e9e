package fsmeta

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFromUnixMatchesFromStat: the descriptor-relative walk records what
// the path-based one did, for every type.
func TestFromUnixMatchesFromStat(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("content"), 0o4751); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o4751); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o1755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	names := []string{"file", "dir", "link", "fifo", "sock"}
	if os.Geteuid() == 0 {
		if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		names = append(names, "null")
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	for _, name := range names {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		want, got := FromStat(name, fi), FromUnix(name, &st)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: FromUnix %+v, FromStat %+v", name, got, want)
		}
		if !Same(&want, &st) {
			t.Errorf("%s: Same is false for its own stat", name)
		}
	}
}

// TestXattrsThroughDescriptors: FdXattrs and XattrsAt read what Xattrs
// reads by path.
func TestXattrsThroughDescriptors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(file, "user.cairn", []byte("value"), 0); err != nil {
		t.Fatalf("set xattr (the temp dir's file system must support user xattrs): %v", err)
	}
	want, err := Xattrs(file)
	if err != nil || len(want) != 1 {
		t.Fatalf("Xattrs: %v, %v", want, err)
	}
	fd, err := unix.Open(file, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if got, err := FdXattrs(fd, file); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("FdXattrs: %v, %v; want %v", got, err, want)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	if got, ok, err := XattrsAt(dfd, "file", file); err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("XattrsAt: %v, %v, %v; want %v", got, ok, err, want)
	}
	// A symlink's own attributes, not its target's.
	if err := os.Symlink("file", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if got, _, err := XattrsAt(dfd, "link", filepath.Join(dir, "link")); err != nil || len(got) != 0 {
		t.Errorf("XattrsAt of a symlink: %v, %v; want none", got, err)
	}
}
