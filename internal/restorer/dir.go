package restorer

import (
	"container/list"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/fsmeta"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// A dir is a directory of the target, reached from the target's root one
// name at a time: each opened relative to its parent's descriptor with
// O_NOFOLLOW|O_DIRECTORY, never by a path. Everything written into it goes
// through its descriptor (openat, renameat, symlinkat, linkat, mknodat).
type dir struct {
	parent *dir
	name   string         // in parent; "" for the root
	rel    string         // slash path from the root, for messages
	meta   *snapshot.Node // applied when finished; nil: an existing directory, left as it is
	dev    uint64         // identity, checked when it is opened again
	ino    uint64

	// pending counts what must end before the directory is finished (its
	// metadata applied, fsynced, closed): the walk of its entries, the
	// files being written into it, its sub-directories, hard links to make.
	pending atomic.Int64

	// guarded by dirs.mu
	fd    int           // -1 while closed
	users int           // goroutines using fd now
	idle  *list.Element // in dirs.idle while open and unused
}

// dirs bounds how many directory descriptors are open at once: a deep or
// wide tree keeps only the most recently used ones open, and one closed is
// opened again from its parent (itself opened again if need be) and
// checked to be the same directory.
type dirs struct {
	mu    sync.Mutex
	limit int
	open  int
	idle  list.List // of *dir, least recently used first
}

// dirLimit is the number of directory descriptors kept open beyond those
// in use.
const dirLimit = 64

func (c *dirs) add(d *dir, fd int) {
	c.mu.Lock()
	d.fd, d.users = fd, 1
	c.open++
	c.mu.Unlock()
}

// acquire returns d's descriptor, opening it again if it was closed; the
// caller calls release when done with it.
func (c *dirs) acquire(d *dir) (int, error) {
	c.mu.Lock()
	if d.fd >= 0 {
		if d.idle != nil {
			c.idle.Remove(d.idle)
			d.idle = nil
		}
		d.users++
		c.mu.Unlock()
		return d.fd, nil
	}
	c.mu.Unlock()
	if d.parent == nil {
		return -1, errors.New("the target's root was closed")
	}
	pfd, err := c.acquire(d.parent)
	if err != nil {
		return -1, err
	}
	fd, err := openDir(pfd, d.name)
	c.release(d.parent)
	if err != nil {
		return -1, fmt.Errorf("open again: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Dev != d.dev || st.Ino != d.ino {
		unix.Close(fd)
		return -1, errors.New("replaced by another directory while restoring; not written into")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.fd >= 0 { // opened again meanwhile by another goroutine
		unix.Close(fd)
		if d.idle != nil {
			c.idle.Remove(d.idle)
			d.idle = nil
		}
	} else {
		d.fd = fd
		c.open++
	}
	d.users++
	c.evict()
	return d.fd, nil
}

func (c *dirs) release(d *dir) {
	c.mu.Lock()
	d.users--
	if d.users == 0 && d.parent != nil {
		d.idle = c.idle.PushBack(d)
	}
	c.evict()
	c.mu.Unlock()
}

// evict closes unused descriptors, least recently used first, while more
// than limit are open. c.mu is held.
func (c *dirs) evict() {
	for c.open > c.limit && c.idle.Len() > 0 {
		d := c.idle.Remove(c.idle.Front()).(*dir)
		d.idle = nil
		unix.Close(d.fd)
		d.fd = -1
		c.open--
	}
}

// drop closes d's descriptor for good (d is finished). Nobody uses it.
func (c *dirs) drop(d *dir) {
	c.mu.Lock()
	if d.idle != nil {
		c.idle.Remove(d.idle)
		d.idle = nil
	}
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
		c.open--
	}
	c.mu.Unlock()
}

// closeAll closes every descriptor left open (a restore that stopped early).
func (c *dirs) closeAll() {
	c.mu.Lock()
	for c.idle.Len() > 0 {
		d := c.idle.Remove(c.idle.Front()).(*dir)
		d.idle = nil
		unix.Close(d.fd)
		d.fd = -1
		c.open--
	}
	c.mu.Unlock()
}

// openDir opens name in directory pfd, refusing a symlink or anything that
// is not a directory.
func openDir(pfd int, name string) (int, error) {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, ErrNotDir
	}
	return fd, err
}

// ErrNotDir: the target, or an entry of it where the snapshot has a
// directory, is a symlink or not a directory; it is not restored into.
var ErrNotDir = errors.New("exists and is not a directory (a symlink is never followed): not restored into")

// validName reports whether a name from a snapshot is one entry of a
// directory: a tampered or corrupt tree must not reach outside it.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// done ends one of d's pending things; the last one finishes d.
func (rs *restorer) done(d *dir) {
	for d != nil && d.pending.Add(-1) == 0 {
		rs.finish(d)
		d = d.parent
	}
}

// finish applies a directory's metadata (unless it existed before the
// restore), makes its entries durable and closes it. Its entries are all
// in, its sub-directories finished.
func (rs *restorer) finish(d *dir) {
	fd, err := rs.dirs.acquire(d)
	if err != nil {
		rs.fail(rs.display(d.rel), err)
		return
	}
	if d.meta != nil {
		if err := fsmeta.ApplyFd(fd, rs.display(d.rel), d.meta); err != nil {
			rs.fail(rs.display(d.rel), err)
		}
	}
	if err := rs.opts.fsync(fd); err != nil {
		rs.fail(rs.display(d.rel), fmt.Errorf("fsync: %w", err))
	}
	rs.dirs.release(d)
	if d.parent != nil {
		rs.dirs.drop(d)
	}
}
