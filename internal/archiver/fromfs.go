package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// owner is what a FileInfo's Sys() of a file system given to RunFS may
// implement: the entry's numeric owner and group.
type owner interface{ Owner() (uid, gid uint32) }

// RunFS backs up the tree of fsys (from its root ".") into r and returns
// the saved snapshot, as Run does for a local directory: it is for trees
// that are not on a local disk, such as another tool's backup being
// imported. The snapshot's root is fsys's "."; opts.Paths are recorded as
// what the tree is a copy of, never read. Excludes, Parent and Workers
// are not used: every file is read once, in order, and its chunks dedup
// against the repository.
//
// Symlinks are read with fs.ReadLink (fsys must implement
// fs.ReadLinkFS to hold any); a FileInfo whose Sys() implements
// Owner() (uid, gid uint32) gives the entry's owner, else it is root's.
// Entries fsys cannot read are recorded with their error (a file without
// content, a directory empty), entries of other types are left out: the
// snapshot is saved, Summary.Errors lists them and the error wraps
// ErrPartial. Errors of the repository end
// the run with nothing saved.
func RunFS(ctx context.Context, r *repo.Repository, fsys fs.FS, opts Options) (*snapshot.Snapshot, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	a := &archiver{r: r, opts: opts, start: opts.Now(), statsBefore: r.Stats()}
	w := &fsWalker{a: a, fsys: fsys, buf: *chunkBuffers.Get().(*[]byte)}
	defer func() { chunkBuffers.Put(&w.buf) }()
	fi, err := fs.Stat(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("archiver: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("archiver: the root of the file system is not a directory")
	}
	root := fsNode(".", fi)
	tree, err := w.dir(ctx, ".", &root)
	if err != nil {
		return nil, err
	}
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	st := r.Stats()
	a.summary.Start, a.summary.End = a.start, opts.Now()
	a.summary.BlobsAdded = st.Blobs - a.statsBefore.Blobs
	a.summary.BytesAdded = st.RawBytes - a.statsBefore.RawBytes
	a.summary.StoredAdded = st.StoredBytes - a.statsBefore.StoredBytes
	a.summary.BytesRead = opts.Progress.BytesRead.Load()
	a.summary.Errors = a.errs
	root.Name = path.Base(first(opts.Paths, "/"))
	sn := &snapshot.Snapshot{
		Time: a.start, Host: opts.Host, Paths: opts.Paths, Tags: opts.Tags, Labels: opts.Labels,
		Tree: tree, Root: &root, Expires: opts.Expires, Summary: &a.summary, Program: opts.Program,
	}
	if err := snapshot.Save(ctx, r, sn); err != nil {
		return nil, err
	}
	if len(a.errs) > 0 {
		return sn, fmt.Errorf("%w: %d entries could not be read (first: %s)", ErrPartial, len(a.errs), a.errs[0])
	}
	return sn, nil
}

func first(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

type fsWalker struct {
	a    *archiver
	fsys fs.FS
	buf  []byte
	c    *chunker.Chunker
}

// fsNode records a FileInfo's metadata (unix permission bits, owner).
func fsNode(name string, fi fs.FileInfo) snapshot.Node {
	m := fi.Mode()
	n := snapshot.Node{Type: snapshot.TypeFile, Mode: uint32(m.Perm()), ModTime: fi.ModTime().UnixNano()}
	n.SetName(name)
	if m&fs.ModeSetuid != 0 {
		n.Mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n.Mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n.Mode |= 0o1000
	}
	switch {
	case m.IsDir():
		n.Type = snapshot.TypeDir
	case m&fs.ModeSymlink != 0:
		n.Type = snapshot.TypeSymlink
	}
	if o, ok := fi.Sys().(owner); ok {
		n.UID, n.GID = o.Owner()
	}
	return n
}

// dir saves the directory at p (whose node is n) and returns its tree.
func (w *fsWalker) dir(ctx context.Context, p string, n *snapshot.Node) (blob.ID, error) {
	entries, err := fs.ReadDir(w.fsys, p)
	if err != nil {
		w.a.noteError(p, err)
		n.Error, entries = err.Error(), nil
	}
	tree := &snapshot.Tree{Nodes: make([]snapshot.Node, 0, len(entries))}
	for _, de := range entries {
		if err := ctx.Err(); err != nil {
			return blob.ID{}, err
		}
		cp := path.Join(p, de.Name())
		fi, err := de.Info()
		if err != nil {
			w.a.noteError(cp, err)
			continue
		}
		c := fsNode(de.Name(), fi)
		switch {
		case fi.IsDir():
			id, err := w.dir(ctx, cp, &c)
			if err != nil {
				return blob.ID{}, err
			}
			c.Subtree = &id
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(w.fsys, cp)
			if err != nil {
				w.a.noteError(cp, err)
				c.Error = err.Error()
			}
			c.SetLinkTarget(target)
			w.a.count(func(s *snapshot.Summary) { s.Others++ })
		case fi.Mode().IsRegular():
			if err := w.file(ctx, cp, &c); err != nil {
				return blob.ID{}, err
			}
		default:
			w.a.noteError(cp, fmt.Errorf("entry of mode %s left out", fi.Mode().Type()))
			continue
		}
		tree.Nodes = append(tree.Nodes, c)
	}
	tree.Sort()
	id, err := snapshot.SaveTree(ctx, w.a.r, tree)
	if err != nil {
		return blob.ID{}, err
	}
	w.a.opts.Progress.Dirs.Add(1)
	w.a.count(func(s *snapshot.Summary) { s.Dirs++ })
	return id, nil
}

// file chunks and saves the file at p. Read errors are recorded on the
// node; repository errors returned.
func (w *fsWalker) file(ctx context.Context, p string, n *snapshot.Node) error {
	f, err := w.fsys.Open(p)
	if err != nil {
		w.a.noteError(p, err)
		n.Error = err.Error()
		return nil
	}
	defer f.Close()
	if w.c == nil {
		w.c = chunker.New(w.a.r.ChunkerTable(), nil, w.buf)
	}
	w.c.Reset(f)
	var size uint64
	for {
		chunk, err := w.c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.a.noteError(p, err)
			n.Error, n.Content = err.Error(), nil
			return nil
		}
		id := w.a.r.BlobID(chunk)
		if _, err := w.a.r.SaveBlobID(ctx, blob.Data, id, chunk); err != nil {
			return err
		}
		n.Content = append(n.Content, id)
		size += uint64(len(chunk))
		w.a.opts.Progress.Bytes.Add(int64(len(chunk)))
		w.a.opts.Progress.BytesRead.Add(int64(len(chunk)))
	}
	n.Size = size
	w.a.opts.Progress.Files.Add(1)
	w.a.count(func(s *snapshot.Summary) { s.FilesNew++; s.TotalBytes += int64(size) })
	return nil
}
