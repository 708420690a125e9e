package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/internal/fsmeta"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

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
func Run(ctx context.Context, r *repo.Repository, opts Options) (*snapshot.Snapshot, error) {
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
	r           *repo.Repository
	opts        Options
	jobs        chan fileJob
	start       time.Time
	statsBefore repo.SaveStats

	mu      sync.Mutex
	errs    []string
	summary snapshot.Summary
}

type future struct {
	done chan struct{}
	node snapshot.Node
	err  error // fatal (repository) errors only
}

func resolved(n snapshot.Node) *future {
	f := &future{done: make(chan struct{}), node: n}
	close(f.done)
	return f
}

type fileJob struct {
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
	single, err := os.Lstat(paths[0])
	if len(paths) == 1 && err == nil && single.IsDir() {
		// One directory: the root tree is its contents.
		n := fsmeta.FromStat(filepath.Base(paths[0]), single)
		n.Xattrs, _ = fsmeta.Xattrs(paths[0])
		root = &n
		treeFut = a.saveDir(ctx, paths[0], n, parentTree)
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

// saveTop builds a root tree holding each path under its base name.
func (a *archiver) saveTop(ctx context.Context, paths []string, parentTree *blob.ID) *future {
	parent := a.loadParent(ctx, parentTree)
	out := &future{done: make(chan struct{})}
	var futs []*future
	seen := map[string]string{}
	for _, p := range paths {
		name := filepath.Base(p)
		if other, dup := seen[name]; dup {
			out.err = fmt.Errorf("archiver: %s and %s have the same name %q; back them up separately", other, p, name)
			close(out.done)
			return out
		}
		seen[name] = p
		futs = append(futs, a.saveEntry(ctx, p, name, parent))
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

// saveEntry handles one path: files go to the workers, directories recurse.
func (a *archiver) saveEntry(ctx context.Context, path, name string, parent *snapshot.Tree) *future {
	fi, err := os.Lstat(path)
	if err != nil {
		a.noteError(path, err)
		return nil
	}
	n := fsmeta.FromStat(name, fi)
	if xs, err := fsmeta.Xattrs(path); err != nil {
		a.noteError(path, err)
	} else {
		n.Xattrs = xs
	}
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
		return a.saveDir(ctx, path, n, sub)
	case snapshot.TypeFile:
		if fsmeta.Unchanged(old, &n) && a.allStored(old.Content) {
			n.Content = old.Content
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
		case a.jobs <- fileJob{path: path, fut: f}:
		case <-ctx.Done():
			f.err = ctx.Err()
			close(f.done)
		}
		return f
	case snapshot.TypeSymlink:
		target, err := os.Readlink(path)
		if err != nil {
			a.noteError(path, err)
			return nil
		}
		n.SetLinkTarget(target)
	}
	a.count(func(s *snapshot.Summary) { s.Others++ })
	return resolved(n)
}

func (a *archiver) allStored(ids []blob.ID) bool {
	for _, id := range ids {
		if !a.r.Has(id) {
			return false
		}
	}
	return true
}

// saveDir reads a directory, hands its entries out, and returns a future
// that completes when its tree is saved.
func (a *archiver) saveDir(ctx context.Context, path string, n snapshot.Node, parentTree *blob.ID) *future {
	out := &future{done: make(chan struct{})}
	entries, err := os.ReadDir(path)
	if err != nil {
		a.noteError(path, err)
		// Record the directory, empty, with the error: it is still restored.
	}
	parent := a.loadParent(ctx, parentTree)
	futs := make([]*future, 0, len(entries))
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		p := filepath.Join(path, e.Name())
		if a.excluded(p, e.Name()) {
			continue
		}
		if f := a.saveEntry(ctx, p, e.Name(), parent); f != nil {
			futs = append(futs, f)
		}
	}
	if err != nil {
		n.Error = err.Error()
	}
	go a.finishDir(ctx, out, n, futs)
	return out
}

func (a *archiver) finishDir(ctx context.Context, out *future, n snapshot.Node, futs []*future) {
	defer close(out.done)
	tree := &snapshot.Tree{Nodes: make([]snapshot.Node, 0, len(futs))}
	for _, f := range futs {
		<-f.done
		if f.err != nil {
			out.err = f.err
			return
		}
		tree.Nodes = append(tree.Nodes, f.node)
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
	buf := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(buf)
	c := chunker.New(a.r.ChunkerTable(), nil, *buf)
	for job := range a.jobs {
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
// the node (the backup goes on); repository errors are returned.
func (a *archiver) saveFile(ctx context.Context, c *chunker.Chunker, job fileJob) error {
	n := &job.fut.node
	f, err := openNoAtime(job.path)
	if err != nil {
		a.noteError(job.path, err)
		n.Error = err.Error()
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino != n.Inode {
			a.noteError(job.path, errors.New("file was replaced while being read"))
		}
	}
	c.Reset(f)
	var size uint64
	for {
		chunk, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			a.noteError(job.path, err)
			n.Error, n.Content = err.Error(), nil
			return nil
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

func openNoAtime(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOATIME, 0)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.OpenFile(path, os.O_RDONLY, 0)
	}
	return f, err
}
