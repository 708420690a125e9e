package dirdiff

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/cairn-backup/cairn/internal/fsmeta"
)

// Options choose what to compare beyond type, content, mode, owner, link
// targets, extended attributes and hard-link structure.
type Options struct {
	ModTime bool // compare modification times (files, symlinks, directories)
	Ignore  func(rel string) bool
}

// Compare returns the differences between trees a and b (empty if equal).
func Compare(a, b string, opts Options) ([]string, error) {
	ea, err := scan(a, opts)
	if err != nil {
		return nil, err
	}
	eb, err := scan(b, opts)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for rel, x := range ea {
		y, ok := eb[rel]
		if !ok {
			diffs = append(diffs, "missing in "+b+": "+rel)
			continue
		}
		if d := x.diff(y, opts); d != "" {
			diffs = append(diffs, rel+": "+d)
		}
	}
	for rel := range eb {
		if _, ok := ea[rel]; !ok {
			diffs = append(diffs, "extra in "+b+": "+rel)
		}
	}
	diffs = append(diffs, linkDiffs(ea, eb)...)
	sort.Strings(diffs)
	return diffs, nil
}

type entry struct {
	mode    fs.FileMode
	uid     uint32
	gid     uint32
	mtime   int64
	size    int64
	content []byte
	target  string
	xattrs  string
	inode   [2]uint64
	nlink   uint64
}

func scan(root string, opts Options) (map[string]*entry, error) {
	out := map[string]*entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." || (opts.Ignore != nil && opts.Ignore(rel)) {
			if rel != "." && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := &entry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime().UnixNano(), size: fi.Size(),
			inode: [2]uint64{st.Dev, st.Ino}, nlink: uint64(st.Nlink)}
		switch {
		case fi.Mode().IsRegular():
			if e.content, err = os.ReadFile(path); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		xs, _ := fsmeta.Xattrs(path)
		for _, x := range xs {
			e.xattrs += x.Name + "=" + string(x.Value) + ";"
		}
		out[rel] = e
		return nil
	})
	return out, err
}

func (x *entry) diff(y *entry, opts Options) string {
	switch {
	case x.mode != y.mode:
		return fmt.Sprintf("mode %v != %v", x.mode, y.mode)
	case x.uid != y.uid || x.gid != y.gid:
		return fmt.Sprintf("owner %d:%d != %d:%d", x.uid, x.gid, y.uid, y.gid)
	case x.size != y.size && x.mode.IsRegular():
		return fmt.Sprintf("size %d != %d", x.size, y.size)
	case !bytes.Equal(x.content, y.content):
		return "content differs"
	case x.target != y.target:
		return fmt.Sprintf("link target %q != %q", x.target, y.target)
	case x.xattrs != y.xattrs:
		return fmt.Sprintf("xattrs %q != %q", x.xattrs, y.xattrs)
	case opts.ModTime && x.mtime != y.mtime:
		return fmt.Sprintf("mtime %d != %d", x.mtime, y.mtime)
	}
	return ""
}

// linkDiffs checks that files hard-linked together in a are linked in b.
func linkDiffs(a, b map[string]*entry) []string {
	groups := map[[2]uint64][]string{}
	for rel, e := range a {
		if e.mode.IsRegular() && e.nlink > 1 {
			groups[e.inode] = append(groups[e.inode], rel)
		}
	}
	var diffs []string
	for _, names := range groups {
		if len(names) < 2 {
			continue
		}
		sort.Strings(names)
		first, ok := b[names[0]]
		if !ok {
			continue
		}
		for _, n := range names[1:] {
			if e, ok := b[n]; ok && e.inode != first.inode {
				diffs = append(diffs, fmt.Sprintf("%s: not a hard link to %s", n, names[0]))
			}
		}
	}
	return diffs
}
