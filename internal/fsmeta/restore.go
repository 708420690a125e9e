package fsmeta

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Apply puts a node's metadata on path: owner (when running as root), mode,
// extended attributes, then access and modification times. Symlinks get
// owner, xattrs and times but no mode (Linux has none for them).
func Apply(path string, n *snapshot.Node) error {
	var errs []error
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, int(n.UID), int(n.GID)); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Type != snapshot.TypeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, path, n.Mode&0o7777, 0); err != nil {
			errs = append(errs, &os.PathError{Op: "chmod", Path: path, Err: err})
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(path, x.Name, x.Value, 0); err != nil && !unsupported(err) {
			errs = append(errs, &os.PathError{Op: "setxattr " + x.Name, Path: path, Err: err})
		}
	}
	atime := n.AccessTime
	if atime == 0 {
		atime = n.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(n.ModTime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		errs = append(errs, &os.PathError{Op: "utimes", Path: path, Err: err})
	}
	return errors.Join(errs...)
}

// MakeSpecial creates a device node or FIFO at path.
func MakeSpecial(path string, n *snapshot.Node) error {
	var mode uint32
	switch n.Type {
	case snapshot.TypeDevice:
		mode = unix.S_IFBLK
	case snapshot.TypeChar:
		mode = unix.S_IFCHR
	case snapshot.TypeFIFO:
		mode = unix.S_IFIFO
	default:
		return fmt.Errorf("mknod %s: type %s cannot be created", path, n.Type)
	}
	if err := unix.Mknod(path, mode|(n.Mode&0o777), int(n.Rdev)); err != nil {
		return &os.PathError{Op: "mknod", Path: path, Err: err}
	}
	return nil
}
