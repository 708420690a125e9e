package fsmeta

import (
	"errors"
	"io/fs"
	"os/user"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// FromStat builds a node (without content) from an lstat result.
func FromStat(name string, fi fs.FileInfo) snapshot.Node {
	var n snapshot.Node
	n.SetName(name)
	st, _ := fi.Sys().(*syscall.Stat_t)
	n.Mode = uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		n.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		n.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		n.Mode |= 0o1000
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		n.Type = snapshot.TypeFile
		n.Size = uint64(fi.Size())
	case m.IsDir():
		n.Type = snapshot.TypeDir
	case m&fs.ModeSymlink != 0:
		n.Type = snapshot.TypeSymlink
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		n.Type = snapshot.TypeChar
	case m&fs.ModeDevice != 0:
		n.Type = snapshot.TypeDevice
	case m&fs.ModeNamedPipe != 0:
		n.Type = snapshot.TypeFIFO
	case m&fs.ModeSocket != 0:
		n.Type = snapshot.TypeSocket
	default:
		n.Type = snapshot.TypeFile
	}
	n.ModTime = fi.ModTime().UnixNano()
	if st != nil {
		n.UID, n.GID = st.Uid, st.Gid
		n.ChangeTime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		n.Inode, n.DeviceID, n.Links = st.Ino, st.Dev, uint64(st.Nlink)
		if n.Type == snapshot.TypeDevice || n.Type == snapshot.TypeChar {
			n.Rdev = st.Rdev
		}
		if n.Type == snapshot.TypeFile && st.Blocks*512 < st.Size {
			n.Sparse = true
		}
		n.User, n.Group = names.user(st.Uid), names.group(st.Gid)
	}
	return n
}

// Unchanged reports whether a file looks the same as when old was recorded:
// same type, size, mtime, ctime and inode. Its content is then not read again.
func Unchanged(old, cur *snapshot.Node) bool {
	return old != nil && old.Type == snapshot.TypeFile && cur.Type == snapshot.TypeFile && old.Error == "" &&
		old.Size == cur.Size && old.ModTime == cur.ModTime && old.ChangeTime == cur.ChangeTime && old.Inode == cur.Inode
}

func unsupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODATA)
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

type nameCache struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

var names = &nameCache{users: map[uint32]string{}, groups: map[uint32]string{}}

func (c *nameCache) user(uid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.users[uid]; ok {
		return n
	}
	n := ""
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		n = u.Username
	}
	c.users[uid] = n
	return n
}

func (c *nameCache) group(gid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.groups[gid]; ok {
		return n
	}
	n := ""
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		n = g.Name
	}
	c.groups[gid] = n
	return n
}
