package archiver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrChanged is recorded for an entry that was replaced between its stat
// and its open (another device, inode or type; a symlink put in its
// place): its content is not saved.
var ErrChanged = errors.New("replaced while being backed up; its content is not saved")

const (
	// A directory is opened only as a directory and never through a
	// symlink.
	dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	// A file is never opened through a symlink; O_NONBLOCK and O_NOCTTY so
	// that a FIFO or a terminal put in its place neither blocks nor becomes
	// the controlling terminal before fstat tells it apart.
	fileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
)

// maxHeldDirs bounds the directories the walker keeps open on its way down.
// Below it, each further level closes its parent while it is walked and
// opens it again through ".." (checking its identity) when it is done, so a
// tree of any depth needs a bounded number of descriptors: maxHeldDirs plus
// one directory per queued or running file job.
const maxHeldDirs = 16

// dir is an open directory of the source. The walker and the file jobs
// queued for its entries share it; the last release closes it.
type dir struct {
	fd       int
	path     string
	dev, ino uint64
	refs     atomic.Int32
}

func (d *dir) hold() *dir {
	d.refs.Add(1)
	return d
}

func (d *dir) release() {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// openTop opens the directory that holds the top-level path p, following
// symlinks on the way (the caller named p), and stats p itself without
// following it. at is p's name in that directory.
func openTop(p string) (parent *dir, at string, st unix.Stat_t, err error) {
	dp, at := filepath.Dir(p), filepath.Base(p)
	if p == "/" {
		at = "."
	}
	fd, err := openat(unix.AT_FDCWD, dp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, "", st, &os.PathError{Op: "lstat", Path: p, Err: err} // p's parent: p is not there either
	}
	if err := fstatat(fd, at, &st); err != nil {
		unix.Close(fd)
		return nil, "", st, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	parent = &dir{fd: fd, path: dp}
	parent.refs.Store(1)
	return parent, at, st, nil
}

// openDir opens the directory at in parent and checks it is the one
// statted as want (ErrChanged if not).
func openDir(parent *dir, at, path string, want *unix.Stat_t) (*dir, error) {
	fd, err := openat(parent.fd, at, dirFlags)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, ErrChanged
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return nil, ErrChanged
	}
	d := &dir{fd: fd, path: path, dev: st.Dev, ino: st.Ino}
	d.refs.Store(1)
	return d, nil
}

// descend walks child, opened from *cur, with walk, which returns the
// handle of child it ends with (or nil). held counts the directories the
// walker keeps open: beyond maxHeldDirs, *cur is closed meanwhile and
// opened again through child's ".." afterwards; *cur is nil when that
// fails, and the error says why (nil when child was lost already).
func descend(cur **dir, held *int, child *dir, walk func(*dir) *dir) error {
	d := *cur
	drop := *held >= maxHeldDirs
	if drop {
		d.release()
	} else {
		*held++
	}
	last := walk(child)
	var err error
	if drop {
		*cur = nil
		if last != nil {
			*cur, err = reopenParent(last, d)
		}
	} else {
		*held--
	}
	if last != nil {
		last.release()
	}
	return err
}

// reopenParent opens ".." of child and checks it is still parent (which
// the walker closed to bound its descriptors): if child was moved, the
// rest of parent cannot be reached safely.
func reopenParent(child, parent *dir) (*dir, error) {
	d, err := openDir(child, "..", parent.path, &unix.Stat_t{Dev: parent.dev, Ino: parent.ino, Mode: unix.S_IFDIR})
	if errors.Is(err, ErrChanged) {
		return nil, fmt.Errorf("%s was moved while being backed up; the rest of this directory is not saved", child.path)
	}
	return d, err
}

// readNames lists a directory's entries (without "." and ".."), sorted.
func readNames(d *dir, buf []byte) ([]string, error) {
	var names []string
	for {
		n, err := unix.ReadDirent(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return names, &os.PathError{Op: "readdirent", Path: d.path, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}

// openFile opens the regular file at in d for reading, without updating
// its access time where the process may do so.
func openFile(d *dir, at string) (int, error) {
	fd, err := openat(d.fd, at, fileFlags|unix.O_NOATIME)
	if err == unix.EPERM {
		fd, err = openat(d.fd, at, fileFlags)
	}
	return fd, err
}

func readlink(d *dir, at, path string, size int64) (string, error) {
	for n := max(size+1, 128); ; n *= 2 {
		buf := make([]byte, n)
		got, err := unix.Readlinkat(d.fd, at, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EINVAL {
			return "", ErrChanged // no longer a symlink
		}
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: path, Err: err}
		}
		if int64(got) < n {
			return string(buf[:got]), nil
		}
	}
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	for {
		if err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW); err != unix.EINTR {
			return err
		}
	}
}

func fstat(fd int, st *unix.Stat_t) error {
	for {
		if err := unix.Fstat(fd, st); err != unix.EINTR {
			return err
		}
	}
}

// fdReader reads an open file descriptor (no poller: regular files only).
type fdReader struct {
	fd   int
	path string
}

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(r.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: r.path, Err: err}
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
