package fsmeta

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// The functions here never take a path from the root: they work on an
// open descriptor, or on a name inside an open directory without following
// a symlink there, so a directory swapped for a symlink meanwhile cannot
// send them elsewhere.

// ApplyFd puts a node's metadata on the open file or directory fd: owner
// (when running as root), mode, extended attributes, then access and
// modification times. name is for error messages.
func ApplyFd(fd int, name string, n *snapshot.Node) error {
	var errs []error
	if os.Geteuid() == 0 {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil {
			errs = append(errs, &os.PathError{Op: "chown", Path: name, Err: err})
		}
	}
	if err := unix.Fchmod(fd, n.Mode&0o7777); err != nil {
		errs = append(errs, &os.PathError{Op: "chmod", Path: name, Err: err})
	}
	for _, x := range n.Xattrs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil && !unsupported(err) {
			errs = append(errs, &os.PathError{Op: "setxattr " + x.Name, Path: name, Err: err})
		}
	}
	ts := times(n)
	if err := futimens(fd, &ts); err != nil {
		errs = append(errs, &os.PathError{Op: "utimes", Path: name, Err: err})
	}
	return errors.Join(errs...)
}

// ApplyAt puts a node's metadata on the entry name of directory dirfd (a
// symlink, device node or FIFO) without following it: owner (when running
// as root), mode (not for symlinks: Linux has none), extended attributes,
// then times.
func ApplyAt(dirfd int, name string, n *snapshot.Node) error {
	var errs []error
	if os.Geteuid() == 0 {
		if err := unix.Fchownat(dirfd, name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			errs = append(errs, &os.PathError{Op: "chown", Path: name, Err: err})
		}
	}
	if n.Type != snapshot.TypeSymlink {
		if err := chmodSpecial(dirfd, name, n.Mode&0o7777); err != nil {
			errs = append(errs, &os.PathError{Op: "chmod", Path: name, Err: err})
		}
	}
	// The directory through its descriptor's /proc link (it resolves to
	// that directory wherever it is now), the last name not followed.
	at := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(at, x.Name, x.Value, 0); err != nil && !unsupported(err) {
			errs = append(errs, &os.PathError{Op: "setxattr " + x.Name, Path: name, Err: err})
		}
	}
	ts := times(n)
	if err := unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		errs = append(errs, &os.PathError{Op: "utimes", Path: name, Err: err})
	}
	return errors.Join(errs...)
}

// chmodSpecial changes the mode of a device node or FIFO name in dirfd.
// chmod follows symlinks, and opening a device may have effects, so the
// entry is opened as a bare reference (O_PATH, not followed), checked not
// to be a symlink, and changed through its descriptor's /proc link, which
// resolves to that very inode.
func chmodSpecial(dirfd int, name string, mode uint32) error {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return errors.New("replaced by a symlink meanwhile; not followed")
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

func times(n *snapshot.Node) [2]unix.Timespec {
	atime := n.AccessTime
	if atime == 0 {
		atime = n.ModTime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(n.ModTime)}
}

// futimens sets the times of fd itself: utimensat with a NULL path, as the
// C library's futimens does (unix.Futimes has only microseconds).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// MakeSpecialAt creates a device node or FIFO name in directory dirfd.
func MakeSpecialAt(dirfd int, name string, n *snapshot.Node) error {
	var mode uint32
	switch n.Type {
	case snapshot.TypeDevice:
		mode = unix.S_IFBLK
	case snapshot.TypeChar:
		mode = unix.S_IFCHR
	case snapshot.TypeFIFO:
		mode = unix.S_IFIFO
	default:
		return fmt.Errorf("mknod %s: type %s cannot be created", name, n.Type)
	}
	if err := unix.Mknodat(dirfd, name, mode|(n.Mode&0o777), int(n.Rdev)); err != nil {
		return &os.PathError{Op: "mknod", Path: name, Err: err}
	}
	return nil
}
