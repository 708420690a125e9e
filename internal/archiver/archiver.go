package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/fsmeta"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// BlobSaver is what a backup needs of the repository it writes to;
// *repo.Repository is one. A backup saves blobs and one manifest, and
// reads only the parent snapshot's trees.
type BlobSaver interface {
	snapshot.BlobLoader    // the parent snapshot's trees
	snapshot.BlobSaver     // trees
	snapshot.ManifestSaver // the snapshot's manifest
	// BlobID and SaveBlobID store a file's chunks (the ID computed once).
	BlobID(data []byte) blob.ID
	SaveBlobID(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error)
	Has(id blob.ID) bool
	ChunkerTable() *chunker.Table
	// Flush makes the saved blobs durable and findable, before the manifest.
	Flush(ctx context.Context) error
	Stats() repo.SaveStats
	AdoptOrphansOnce(ctx context.Context) (int, error)
}

// Options say what to back up and how.
type Options struct {
	Paths    []string // files or directories; made absolute
	Excludes []string // globs: matched against the base name, or the full path when they contain '/'
	Tags     []string
	Labels   map[string]string
	Host     string             // default: os.Hostname
	Parent   *snapshot.Snapshot // files unchanged since it are not read again
	Expires  *time.Time         // the snapshot's own expiry
	Workers  int                // files read in parallel (default GOMAXPROCS+1)
	Now      func() time.Time   // clock (default time.Now)
	Progress *Progress          // counters updated as work proceeds (may be nil)
	Program  string             // recorded in the manifest
}

// Progress counts work done; safe to read concurrently (atomics).
type Progress struct {
	Files     atomic.Int64 // files done
	Dirs      atomic.Int64
	Bytes     atomic.Int64 // file bytes done (read or unchanged)
	BytesRead atomic.Int64
	Errors    atomic.Int64
}

// ErrPartial reports a snapshot that was saved but missed some entries;
// Summary.Errors lists them.
var ErrPartial = errors.New("backup completed with errors")

// Run backs up opts.Paths into r and returns the saved snapshot. If some
// entries could not be read the snapshot is still saved and the error wraps
// ErrPartial.
func Run(ctx context.Context, r BlobSaver, opts Options) (*snapshot.Snapshot, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("archiver: no paths to back up")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	for _, ex := range opts.Excludes {
		if _, err := filepath.Match(ex, ""); err != nil {
			return nil, fmt.Errorf("archiver: exclude pattern %q: %w", ex, err)
		}
	}
	paths := make([]string, len(opts.Paths))
	for i, p := range opts.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("archiver: %s: %w", p, err)
		}
		paths[i] = abs
	}
	sort.Strings(paths)
	if _, err := r.AdoptOrphansOnce(ctx); err != nil {
		return nil, err
	}
	a := &archiver{r: r, opts: opts, jobs: make(chan fileJob, 4*opts.Workers), start: opts.Now(), statsBefore: r.Stats()}
	snap, err := a.run(ctx, paths)
	if err != nil {
		return nil, err
	}
	if len(snap.Summary.Errors) > 0 {
		return snap, fmt.Errorf("%w: %d entries could not be read (first: %s)", ErrPartial, len(snap.Summary.Errors), snap.Summary.Errors[0])
	}
	return snap, nil
}

type archiver struct {
	r           BlobSaver
	opts        Options
	jobs        chan fileJob
	start       time.Time
	statsBefore repo.SaveStats

	// The walker's own (one goroutine): directories it holds open, and
	// its buffer for reading them.
	held   int
	dirBuf []byte

	mu      sync.Mutex
	errs    []string
	summary snapshot.Summary
}

type future struct {
	done chan struct{}
	node snapshot.Node
	err  error // fatal (repository) errors only
}

// resolved returns a future that is already complete. They all share one
// closed channel (nothing closes a resolved future's): an unchanged backup
// makes one per entry, and a channel each was a third of a large
// directory's futures.
func resolved(n snapshot.Node) *future {
	return &future{done: closed, node: n}
}

var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

type fileJob struct {
	dir  *dir   // held for the job; released once the file is open
	at   string // name in dir
	path string
	fut  *future
}

func (a *archiver) noteError(path string, err error) {
	a.opts.Progress.Errors.Add(1)
	a.mu.Lock()
	a.errs = append(a.errs, fmt.Sprintf("%s: %v", path, err))
	a.mu.Unlock()
}

func (a *archiver) count(f func(s *snapshot.Summary)) {
	a.mu.Lock()
	f(&a.summary)
	a.mu.Unlock()
}

func (a *archiver) run(ctx context.Context, paths []string) (*snapshot.Snapshot, error) {
	// One directory: the root tree is its contents.
	rootDir, rootSt, err := openRootDir(paths)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < a.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.worker(ctx)
		}()
	}

	var parentTree *blob.ID
	if a.opts.Parent != nil {
		parentTree = &a.opts.Parent.Tree
	}
	var root *snapshot.Node
	var treeFut *future
	if rootDir != nil {
		n := fsmeta.FromUnix(filepath.Base(paths[0]), &rootSt)
		if xs, err := fsmeta.FdXattrs(rootDir.fd, paths[0]); err != nil {
			a.noteError(paths[0], err)
		} else {
			n.Xattrs = xs
		}
		root = &n
		a.held = 1
		var last *dir
		treeFut, last = a.saveDir(ctx, rootDir, n, parentTree)
		if last != nil {
			last.release()
		}
	} else {
		treeFut = a.saveTop(ctx, paths, parentTree)
	}
	<-treeFut.done
	close(a.jobs)
	wg.Wait()
	if treeFut.err != nil {
		return nil, treeFut.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := a.r.Flush(ctx); err != nil {
		return nil, err
	}
	if root != nil {
		root.Subtree = nil
	}
	st := a.r.Stats()
	a.summary.Start, a.summary.End = a.start, a.opts.Now()
	a.summary.BlobsAdded = st.Blobs - a.statsBefore.Blobs
	a.summary.BytesAdded = st.RawBytes - a.statsBefore.RawBytes
	a.summary.StoredAdded = st.StoredBytes - a.statsBefore.StoredBytes
	a.summary.BytesRead = a.opts.Progress.BytesRead.Load()
	a.summary.Errors = a.errs
	if treeFut.node.Subtree == nil {
		return nil, errors.New("archiver: no root tree")
	}
	sn := &snapshot.Snapshot{
		Time: a.start, Host: a.opts.Host, Paths: paths, Tags: a.opts.Tags, Labels: a.opts.Labels,
		Tree: *treeFut.node.Subtree, Root: root, Expires: a.opts.Expires, Summary: &a.summary, Program: a.opts.Program,
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if a.opts.Parent != nil {
		sn.Parent = a.opts.Parent.ID
	}
	if err := snapshot.Save(ctx, a.r, sn); err != nil {
		return nil, err
	}
	return sn, nil
}

// openRootDir opens paths[0] when it is the only path and a directory (nil
// otherwise). A path that cannot be statted is an error.
func openRootDir(paths []string) (*dir, unix.Stat_t, error) {
	var st unix.Stat_t
	if len(paths) != 1 {
		return nil, st, nil
	}
	top, at, st, err := openTop(paths[0])
	if err != nil {
		return nil, st, fmt.Errorf("archiver: %w", err)
	}
	defer top.release()
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, st, nil
	}
	d, err := openDir(top, at, paths[0], &st)
	if err != nil {
		return nil, st, fmt.Errorf("archiver: %s: %w", paths[0], err)
	}
	return d, st, nil
}

// saveTop builds a root tree holding each path under its base name. A
// path that is a symlink is saved as the symlink. A path that cannot be
// statted fails the backup.
func (a *archiver) saveTop(ctx context.Context, paths []string, parentTree *blob.ID) *future {
	parent := a.loadParent(ctx, parentTree)
	out := &future{done: make(chan struct{})}
	fail := func(err error) *future {
		out.err = err
		close(out.done)
		return out
	}
	var futs []*future
	seen := map[string]string{}
	for _, p := range paths {
		name := filepath.Base(p)
		if other, dup := seen[name]; dup {
			return fail(fmt.Errorf("archiver: %s and %s have the same name %q; back them up separately", other, p, name))
		}
		seen[name] = p
		top, at, st, err := openTop(p)
		if err != nil {
			return fail(fmt.Errorf("archiver: %w", err))
		}
		a.held = 1
		cur := top
		f := a.saveEntry(ctx, &cur, p, name, at, &st, parent)
		if cur != nil {
			cur.release()
		}
		if f != nil {
			futs = append(futs, f)
		}
	}
	go a.finishDir(ctx, out, snapshot.Node{Name: "/", Type: snapshot.TypeDir}, futs)
	return out
}

func (a *archiver) loadParent(ctx context.Context, id *blob.ID) *snapshot.Tree {
	if id == nil {
		return nil
	}
	t, err := snapshot.LoadTree(ctx, a.r, *id)
	if err != nil {
		return nil // a damaged parent only costs re-reading
	}
	return t
}

// saveEntry handles the entry at in the directory *cur, statted as st:
// files go to the workers, directories recurse. It may replace *cur (see
// maxHeldDirs), with nil when the directory could not be opened again.
func (a *archiver) saveEntry(ctx context.Context, cur **dir, path, name, at string, st *unix.Stat_t, parent *snapshot.Tree) *future {
	d := *cur
	n := fsmeta.FromUnix(name, st)
	var old *snapshot.Node
	if parent != nil {
		old = parent.Find(name)
	}
	switch n.Type {
	case snapshot.TypeDir:
		var sub *blob.ID
		if old != nil && old.Type == snapshot.TypeDir {
			sub = old.Subtree
		}
		child, err := openDir(d, at, path, st)
		if err != nil {
			a.noteError(path, err)
			n.Error = err.Error()
			return a.emptyDir(ctx, n)
		}
		if xs, err := fsmeta.FdXattrs(child.fd, path); err != nil {
			a.noteError(path, err)
		} else {
			n.Xattrs = xs
		}
		var f *future
		err = descend(cur, &a.held, child, func(c *dir) *dir {
			fut, last := a.saveDir(ctx, c, n, sub)
			f = fut
			return last
		})
		if err != nil {
			a.noteError(d.path, err)
		}
		return f
	case snapshot.TypeFile:
		if fsmeta.Unchanged(old, &n) && a.allStored(old.Content) {
			// Same inode, size, mtime and ctime: setting or removing an
			// extended attribute changes the ctime, so the parent's are
			// still the file's (no listxattr per unchanged file; the same
			// rule as for the content).
			n.Content, n.Xattrs = old.Content, old.Xattrs
			a.opts.Progress.Files.Add(1)
			a.opts.Progress.Bytes.Add(int64(n.Size))
			a.count(func(s *snapshot.Summary) { s.FilesUnchanged++; s.TotalBytes += int64(n.Size) })
			return resolved(n)
		}
		if old != nil {
			a.count(func(s *snapshot.Summary) { s.FilesChanged++ })
		} else {
			a.count(func(s *snapshot.Summary) { s.FilesNew++ })
		}
		f := &future{done: make(chan struct{}), node: n}
		select {
		case a.jobs <- fileJob{dir: d.hold(), at: at, path: path, fut: f}:
		case <-ctx.Done():
			d.release()
			f.err = ctx.Err()
			close(f.done)
		}
		return f
	case snapshot.TypeSymlink:
		target, err := readlink(d, at, path, st.Size)
		if err != nil {
			a.noteError(path, err)
			return nil
		}
		n.SetLinkTarget(target)
		a.xattrsAt(d, path, at, &n)
	default:
		a.xattrsAt(d, path, at, &n)
	}
	a.count(func(s *snapshot.Summary) { s.Others++ })
	return resolved(n)
}

// xattrsAt reads the extended attributes of an entry that is not opened.
// Without /proc a regular file is opened for them; other types get none.
func (a *archiver) xattrsAt(d *dir, path, at string, n *snapshot.Node) {
	xs, ok, err := fsmeta.XattrsAt(d.fd, at, path)
	if !ok && n.Type == snapshot.TypeFile {
		var fd int
		if fd, err = openFile(d, at); err == nil {
			var st unix.Stat_t
			if err = fstat(fd, &st); err == nil && !fsmeta.Same(n, &st) {
				err = ErrChanged
			}
			if err == nil {
				xs, err = fsmeta.FdXattrs(fd, path)
			}
			unix.Close(fd)
		}
	}
	if err != nil {
		a.noteError(path, err)
		return
	}
	n.Xattrs = xs
}

func (a *archiver) allStored(ids []blob.ID) bool {
	for _, id := range ids {
		if !a.r.Has(id) {
			return false
		}
	}
	return true
}

// saveDir reads the open directory d, hands its entries out, and returns
// a future that completes when its tree is saved. It returns the handle of
// d it ends with (d, or d opened again; nil if that failed), still held.
func (a *archiver) saveDir(ctx context.Context, d *dir, n snapshot.Node, parentTree *blob.ID) (*future, *dir) {
	out := &future{done: make(chan struct{})}
	if a.dirBuf == nil {
		a.dirBuf = make([]byte, 32<<10)
	}
	names, err := readNames(d, a.dirBuf)
	if err != nil {
		a.noteError(d.path, err)
		// Record the directory, empty, with the error: it is still restored.
		n.Error = err.Error()
		names = nil
	}
	parent := a.loadParent(ctx, parentTree)
	futs := make([]*future, 0, len(names))
	cur := d
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		p := filepath.Join(d.path, name)
		if a.excluded(p, name) {
			continue
		}
		var st unix.Stat_t
		if err := fstatat(cur.fd, name, &st); err != nil {
			a.noteError(p, &os.PathError{Op: "lstat", Path: p, Err: err})
			continue
		}
		if f := a.saveEntry(ctx, &cur, p, name, name, &st, parent); f != nil {
			futs = append(futs, f)
		}
		if cur == nil {
			n.Error = "moved while being backed up; entries after " + name + " are not saved"
			break
		}
	}
	go a.finishDir(ctx, out, n, futs)
	return out, cur
}

// emptyDir saves n as a directory without entries.
func (a *archiver) emptyDir(ctx context.Context, n snapshot.Node) *future {
	out := &future{done: make(chan struct{})}
	go a.finishDir(ctx, out, n, nil)
	return out
}

func (a *archiver) finishDir(ctx context.Context, out *future, n snapshot.Node, futs []*future) {
	defer close(out.done)
	tree := &snapshot.Tree{Nodes: make([]snapshot.Node, 0, len(futs))}
	for i, f := range futs {
		<-f.done
		if f.err != nil {
			out.err = f.err
			return
		}
		tree.Nodes = append(tree.Nodes, f.node)
		// The node is copied: the future is garbage now, not when the
		// tree is saved (a directory of 100,000 entries held both, ≈ 45 MB
		// of futures beside its nodes and their encoding).
		futs[i] = nil
	}
	tree.Sort()
	id, err := snapshot.SaveTree(ctx, a.r, tree)
	if err != nil {
		out.err = err
		return
	}
	n.Subtree = &id
	out.node = n
	a.opts.Progress.Dirs.Add(1)
	a.count(func(s *snapshot.Summary) { s.Dirs++ })
}

func (a *archiver) excluded(path, name string) bool {
	for _, ex := range a.opts.Excludes {
		target := name
		if strings.Contains(ex, "/") {
			target = path
		}
		if ok, _ := filepath.Match(ex, target); ok {
			return true
		}
	}
	return false
}

func (a *archiver) worker(ctx context.Context) {
	// The chunker's buffer is taken for the first file to read: a backup
	// with nothing changed never allocates it.
	var c *chunker.Chunker
	defer func() {
		if c != nil {
			buf := c.Buffer()
			chunkBuffers.Put(&buf)
		}
	}()
	for job := range a.jobs {
		if c == nil {
			c = chunker.New(a.r.ChunkerTable(), nil, *chunkBuffers.Get().(*[]byte))
		}
		err := a.saveFile(ctx, c, job)
		if err != nil {
			job.fut.err = err
		}
		close(job.fut.done)
	}
}

// chunkBuffers recycles the workers' chunker buffers (chunker.BufferSize
// each) across runs: a process that runs many small backups (the node
// agent, one per volume) would otherwise allocate and clear them for each.
var chunkBuffers = sync.Pool{New: func() any {
	b := make([]byte, chunker.BufferSize)
	return &b
}}

// saveFile chunks a file and saves its chunks. Read errors are recorded on
// the node (the backup goes on); repository errors are returned. The file
// is opened relative to its directory, never through a symlink, and must
// be the entry that was statted: otherwise nothing of it is saved.
func (a *archiver) saveFile(ctx context.Context, c *chunker.Chunker, job fileJob) error {
	n := &job.fut.node
	fd, err := openFile(job.dir, job.at)
	job.dir.release()
	fail := func(err error) error {
		a.noteError(job.path, err)
		n.Error, n.Content = err.Error(), nil
		return nil
	}
	if errors.Is(err, unix.ELOOP) {
		return fail(ErrChanged)
	}
	if err != nil {
		return fail(&os.PathError{Op: "open", Path: job.path, Err: err})
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return fail(&os.PathError{Op: "fstat", Path: job.path, Err: err})
	}
	if !fsmeta.Same(n, &st) {
		return fail(ErrChanged)
	}
	if xs, err := fsmeta.FdXattrs(fd, job.path); err != nil {
		a.noteError(job.path, err)
	} else {
		n.Xattrs = xs
	}
	c.Reset(fdReader{fd: fd, path: job.path})
	var size uint64
	for {
		chunk, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		id := a.r.BlobID(chunk)
		if _, err := a.r.SaveBlobID(ctx, blob.Data, id, chunk); err != nil {
			return err
		}
		n.Content = append(n.Content, id)
		size += uint64(len(chunk))
		a.opts.Progress.Bytes.Add(int64(len(chunk)))
		a.opts.Progress.BytesRead.Add(int64(len(chunk)))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if size != n.Size {
		// It grew or shrank while we read: record what we read.
		n.Size = size
	}
	a.opts.Progress.Files.Add(1)
	a.count(func(s *snapshot.Summary) { s.TotalBytes += int64(size) })
	return nil
}
