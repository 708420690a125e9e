package fsmeta

import (
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// FromUnix builds a node (without content) from a stat result of fstatat
// (with AT_SYMLINK_NOFOLLOW) or fstat; it records what FromStat records.
func FromUnix(name string, st *unix.Stat_t) snapshot.Node {
	var n snapshot.Node
	n.SetName(name)
	n.Mode = st.Mode & 0o7777
	n.Type = TypeOf(st.Mode)
	if n.Type == snapshot.TypeFile {
		n.Size = uint64(st.Size)
		n.Sparse = st.Blocks*512 < st.Size
	}
	if n.Type == snapshot.TypeDevice || n.Type == snapshot.TypeChar {
		n.Rdev = st.Rdev
	}
	n.ModTime = st.Mtim.Sec*1e9 + st.Mtim.Nsec
	n.ChangeTime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	n.UID, n.GID = st.Uid, st.Gid
	n.Inode, n.DeviceID, n.Links = st.Ino, st.Dev, uint64(st.Nlink)
	n.User, n.Group = names.user(st.Uid), names.group(st.Gid)
	return n
}

// TypeOf maps the file type bits of a stat mode to a node type (unknown
// types count as files, as in FromStat).
func TypeOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return snapshot.TypeDir
	case unix.S_IFLNK:
		return snapshot.TypeSymlink
	case unix.S_IFCHR:
		return snapshot.TypeChar
	case unix.S_IFBLK:
		return snapshot.TypeDevice
	case unix.S_IFIFO:
		return snapshot.TypeFIFO
	case unix.S_IFSOCK:
		return snapshot.TypeSocket
	}
	return snapshot.TypeFile
}

// Same reports whether st (of an opened file) is the entry n was recorded
// from: same device, inode and type.
func Same(n *snapshot.Node, st *unix.Stat_t) bool {
	return n.DeviceID == st.Dev && n.Inode == st.Ino && n.Type == TypeOf(st.Mode)
}

// FdXattrs reads the extended attributes of the open file fd; path only
// names it in errors.
func FdXattrs(fd int, path string) ([]snapshot.Xattr, error) {
	return readXattrs(path, "flistxattr",
		func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(name string, b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) })
}

// XattrsAt reads the extended attributes of the entry name of the open
// directory dirfd without following it if it is a symlink. Linux has no
// lgetxattr relative to a directory descriptor (before 6.13), so it goes
// through /proc/self/fd/<dirfd>/name: only name itself is resolved, in
// that directory. ok is false when /proc is not mounted; nothing was read.
func XattrsAt(dirfd int, name, path string) (xs []snapshot.Xattr, ok bool, err error) {
	if !procFD() {
		return nil, false, nil
	}
	p := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	xs, err = readXattrs(path, "llistxattr",
		func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(attr string, b []byte) (int, error) { return unix.Lgetxattr(p, attr, b) })
	return xs, true, err
}

var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// Xattrs reads the extended attributes of path (not following symlinks).
// File systems without xattr support give none.
func Xattrs(path string) ([]snapshot.Xattr, error) {
	return readXattrs(path, "llistxattr",
		func(b []byte) (int, error) { return unix.Llistxattr(path, b) },
		func(name string, b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
}

func readXattrs(path, op string, list func([]byte) (int, error), get func(string, []byte) (int, error)) ([]snapshot.Xattr, error) {
	size, err := list(nil)
	if err != nil || size == 0 {
		if err != nil && !unsupported(err) {
			return nil, &os.PathError{Op: op, Path: path, Err: err}
		}
		return nil, nil
	}
	buf := make([]byte, size)
	size, err = list(buf)
	if err != nil {
		if unsupported(err) {
			return nil, nil
		}
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	var out []snapshot.Xattr
	for _, name := range splitNull(buf[:size]) {
		vs, err := get(name, nil)
		if err != nil {
			continue // removed meanwhile, or not readable (e.g. security.*)
		}
		val := make([]byte, vs)
		vs, err = get(name, val)
		if err != nil {
			continue
		}
		out = append(out, snapshot.Xattr{Name: name, Value: val[:vs]})
	}
	return out, nil
}
