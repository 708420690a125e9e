package kopia

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// FS returns the tree under dir (a snapshot's Root) as a file system:
// fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS (symlinks are not followed:
// ReadLink gives their target, Lstat and Stat their own entry). A
// FileInfo's Sys() is the *Entry, with its numeric owner. ctx bounds every
// read made through it.
func (r *Repository) FS(ctx context.Context, dir Entry) fs.FS {
	return &snapFS{ctx: ctx, r: r, root: dir, dirs: map[string][]Entry{}}
}

type snapFS struct {
	ctx  context.Context
	r    *Repository
	root Entry
	// dirs caches the listings of the directories read last (a walk
	// resolves each path from the root).
	dirs map[string][]Entry
}

var (
	_ fs.ReadDirFS  = (*snapFS)(nil)
	_ fs.StatFS     = (*snapFS)(nil)
	_ fs.ReadLinkFS = (*snapFS)(nil)
)

const maxCachedDirs = 256

func (f *snapFS) list(dirPath string, dir Entry) ([]Entry, error) {
	if es, ok := f.dirs[dirPath]; ok {
		return es, nil
	}
	es, err := f.r.ReadDir(f.ctx, dir)
	if err != nil {
		return nil, err
	}
	if len(f.dirs) >= maxCachedDirs {
		clear(f.dirs)
	}
	f.dirs[dirPath] = es
	return es, nil
}

// lookup finds the entry at name (not following symlinks).
func (f *snapFS) lookup(op, name string) (Entry, error) {
	if !fs.ValidPath(name) {
		return Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e := f.root
	e.Name = "."
	if name == "." {
		return e, nil
	}
	at := "."
	for _, part := range strings.Split(name, "/") {
		if e.Type != TypeDir {
			return Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		es, err := f.list(at, e)
		if err != nil {
			return Entry{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		found := false
		for _, c := range es {
			if c.Name == part {
				e, found = c, true
				break
			}
		}
		if !found {
			return Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		at = path.Join(at, part)
	}
	return e, nil
}

func (f *snapFS) Open(name string) (fs.File, error) {
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	switch e.Type {
	case TypeDir:
		return &dirFile{f: f, path: name, e: e}, nil
	case TypeFile:
		rc, err := f.r.OpenObject(f.ctx, e.Object)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &file{ReadCloser: rc, e: e}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("entry of type %q: %w", e.Type, ErrUnsupported)}
}

func (f *snapFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	es, err := f.list(path.Clean(name), e)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(es))
	for i := range es {
		out[i] = fs.FileInfoToDirEntry(info{es[i]})
	}
	return out, nil
}

func (f *snapFS) Stat(name string) (fs.FileInfo, error) { return f.Lstat(name) }

func (f *snapFS) Lstat(name string) (fs.FileInfo, error) {
	e, err := f.lookup("lstat", name)
	if err != nil {
		return nil, err
	}
	return info{e}, nil
}

// maxLink bounds a symlink's target.
const maxLink = 64 << 10

func (f *snapFS) ReadLink(name string) (string, error) {
	e, err := f.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if e.Type != TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	rc, err := f.r.OpenObject(f.ctx, e.Object)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLink+1))
	if err == nil && len(b) > maxLink {
		err = fmt.Errorf("target longer than %d bytes: %w", maxLink, ErrCorrupt)
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

// info is an Entry as a FileInfo.
type info struct{ e Entry }

func (i info) Name() string       { return i.e.Name }
func (i info) Size() int64        { return i.e.Size }
func (i info) ModTime() time.Time { return i.e.ModTime }
func (i info) IsDir() bool        { return i.e.Type == TypeDir }
func (i info) Sys() any           { e := i.e; return &e }
func (i info) Mode() fs.FileMode {
	m := i.e.Mode
	switch i.e.Type {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeFile:
	default:
		m |= fs.ModeIrregular
	}
	return m
}

type file struct {
	io.ReadCloser
	e Entry
}

func (f *file) Stat() (fs.FileInfo, error) { return info{f.e}, nil }

type dirFile struct {
	f    *snapFS
	path string
	e    Entry
	left []fs.DirEntry
	read bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return info{d.e}, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		es, err := d.f.ReadDir(d.path)
		if err != nil {
			return nil, err
		}
		d.left, d.read = es, true
	}
	if n <= 0 {
		out := d.left
		d.left = nil
		return out, nil
	}
	if len(d.left) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.left))
	out := d.left[:n]
	d.left = d.left[n:]
	return out, nil
}
