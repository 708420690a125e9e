package restorer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/internal/fsmeta"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Options say where and what to restore.
type Options struct {
	Target  string
	Include []string // snapshot paths (slash-separated, relative to the root); empty: everything
	Verify  bool     // re-read every restored file and check it against the snapshot
	Workers int      // files written in parallel (default GOMAXPROCS+2)
	// RootMeta puts the snapshot root's metadata (owner, mode, xattrs,
	// times) on the target even when it exists: for a target that stands
	// for the backed-up directory itself, as a volume's top folder does.
	// Otherwise an existing target is left as it is.
	RootMeta bool
	// Owned says that everything in the target is this restore's own: an
	// earlier attempt of it, interrupted, made the directories that exist.
	// They get the snapshot's metadata like new ones (otherwise existing
	// directories are left as they are). It implies RootMeta.
	Owned    bool
	Progress *Progress
	// fsync makes a file or directory durable (nil: unix.Fsync); a test
	// of this package counts the calls through it.
	fsync func(fd int) error
}

// Progress counts work done (atomics).
type Progress struct {
	Files  atomic.Int64
	Bytes  atomic.Int64
	Errors atomic.Int64
}

// Result summarises a restore.
type Result struct {
	Files    int64    `json:"files"`
	Dirs     int64    `json:"dirs"`
	Links    int64    `json:"hard_links"`
	Others   int64    `json:"others"`
	Skipped  []string `json:"skipped,omitempty"` // entries not restorable by nature (sockets)
	Bytes    int64    `json:"bytes"`
	Verified int64    `json:"verified_files,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// ErrPartial: the restore finished but some entries failed (Result.Errors).
var ErrPartial = errors.New("restore completed with errors")

// BlobLoader is what a restore needs of the repository it reads;
// *repo.Repository is one. A restore reads trees and file chunks and
// writes nothing to the repository.
type BlobLoader interface {
	snapshot.BlobLoader // trees, and a chunk read alone
	// Lookup says where the index has a chunk, so that neighbours in a
	// pack are read with one ReadPackRange and opened with OpenBlob.
	Lookup(id blob.ID) (index.Location, bool)
	ReadPackRange(ctx context.Context, pack blob.ID, offset, length int64) ([]byte, error)
	ReadPackRangeUpTo(ctx context.Context, pack blob.ID, offset, length int64) ([]byte, error)
	OpenBlob(t blob.Type, id blob.ID, sealed []byte, rawLength uint32, buf []byte) ([]byte, error)
	// VerifyBlob checks a restored chunk against its ID (Options.Verify).
	VerifyBlob(id blob.ID, plaintext []byte) bool
}

type restorer struct {
	r      BlobLoader
	opts   Options
	target string
	win    *windows
	dirs   *dirs
	root   *dir

	mu       sync.Mutex
	res      Result
	links    map[[2]uint64]linkEnd // (device, inode) → first restored name
	deferred []linkJob
	verify   []verifyJob
}

// linkEnd is one name of a restored file: an entry of a directory.
type linkEnd struct {
	dir  *dir
	name string
}

type linkJob struct{ first, at linkEnd }

type verifyJob struct {
	rel  string
	node *snapshot.Node
}

type fileJob struct {
	dir  *dir
	name string
	node *snapshot.Node
}

// syncers is how many files wait for their fsync at once, per writer.
const syncers = 4

// Run restores sn into opts.Target.
func Run(ctx context.Context, r BlobLoader, sn *snapshot.Snapshot, opts Options) (*Result, error) {
	if opts.Target == "" {
		return nil, errors.New("restorer: no target directory")
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0) + 2
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	for i, inc := range opts.Include {
		opts.Include[i] = strings.Trim(filepath.ToSlash(filepath.Clean(inc)), "/")
	}
	if opts.fsync == nil {
		opts.fsync = unix.Fsync
	}
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return nil, err
	}
	rs := &restorer{r: r, opts: opts, target: target, links: map[[2]uint64]linkEnd{}, win: newWindows(r),
		dirs: &dirs{limit: dirLimit}}
	root, created, err := openTarget(target)
	if err != nil {
		return nil, fmt.Errorf("restorer: target %s: %w", target, err)
	}
	defer unix.Close(root.fd)
	if (created || opts.RootMeta || opts.Owned) && len(opts.Include) == 0 {
		root.meta = sn.Root // an existing target is left as it is
	}
	rs.root = root
	root.pending.Store(1)

	jobs := make(chan fileJob, 4*opts.Workers)
	syncs := make(chan *syncJob, opts.Workers)
	var wg, swg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1<<20)
			for j := range jobs {
				s, err := rs.writeFile(ctx, j, &buf)
				if err != nil {
					rs.fail(rs.display(join(j.dir.rel, j.name)), err)
					rs.done(j.dir)
					continue
				}
				syncs <- s
			}
		}()
	}
	for i := 0; i < syncers*opts.Workers; i++ {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for s := range syncs {
				if err := rs.commit(s); err != nil {
					rs.fail(rs.display(join(s.dir.rel, s.name)), err)
				}
				rs.done(s.dir)
			}
		}()
	}
	walkErr := rs.walk(ctx, root, sn.Tree, jobs)
	close(jobs)
	wg.Wait()
	close(syncs)
	swg.Wait()
	if walkErr == nil {
		walkErr = ctx.Err()
	}
	if walkErr != nil {
		rs.dirs.closeAll()
		if ctx.Err() != nil {
			return &rs.res, ctx.Err()
		}
		return &rs.res, fmt.Errorf("restorer: %w", walkErr)
	}
	// Hard links last, then each directory is finished (metadata, fsync)
	// as its last pending entry ends: deepest first, the root last.
	rs.finishLinks()
	rs.done(root)
	rs.dirs.closeAll()
	if opts.Verify {
		rs.runVerify(ctx, root.fd)
	}
	if len(rs.res.Errors) > 0 {
		return &rs.res, fmt.Errorf("%w: %d entries failed (first: %s)", ErrPartial, len(rs.res.Errors), rs.res.Errors[0])
	}
	return &rs.res, nil
}

// openTarget opens the target directory, creating it (and its parents)
// when missing; created says whether it did. The target itself must not be
// a symlink.
func openTarget(target string) (d *dir, created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return nil, false, err
	}
	if err := unix.Mkdir(target, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, false, &os.PathError{Op: "mkdir", Path: target, Err: err}
	}
	fd, err := openDir(unix.AT_FDCWD, target)
	if err != nil {
		return nil, false, err
	}
	return &dir{fd: fd, users: 1}, created, nil
}

func (rs *restorer) fail(path string, err error) {
	rs.opts.Progress.Errors.Add(1)
	rs.mu.Lock()
	rs.res.Errors = append(rs.res.Errors, fmt.Sprintf("%s: %v", path, err))
	rs.mu.Unlock()
}

// display is the path of rel in the target, for messages.
func (rs *restorer) display(rel string) string {
	return filepath.Join(rs.target, filepath.FromSlash(rel))
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// included reports whether rel is selected by --include: it is an included
// path, lies under one, or is a directory above one.
func (rs *restorer) included(rel string, n *snapshot.Node) bool {
	if len(rs.opts.Include) == 0 {
		return true
	}
	for _, inc := range rs.opts.Include {
		if rel == inc || strings.HasPrefix(rel, inc+"/") {
			return true
		}
		if n.Type == snapshot.TypeDir && strings.HasPrefix(inc, rel+"/") {
			return true
		}
	}
	return false
}

// walk restores the entries of tree into d: directories and other entries
// here, files handed to the workers. It returns an error only when the
// restore must stop (the repository, the context); an entry that cannot
// be restored is reported and skipped.
func (rs *restorer) walk(ctx context.Context, d *dir, tree blob.ID, jobs chan<- fileJob) error {
	t, err := snapshot.LoadTree(ctx, rs.r, tree)
	if err != nil {
		return err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		name := n.RawName()
		rel := join(d.rel, name)
		if !validName(name) {
			rs.fail(rs.display(rel), fmt.Errorf("invalid name %q in the snapshot: not restored", name))
			continue
		}
		if !rs.included(rel, n) {
			continue
		}
		if err := rs.visit(ctx, d, name, rel, n, jobs); err != nil {
			return err
		}
	}
	return nil
}

func (rs *restorer) visit(ctx context.Context, d *dir, name, rel string, n *snapshot.Node, jobs chan<- fileJob) error {
	switch n.Type {
	case snapshot.TypeDir:
		sub, err := rs.enter(d, name, rel, n)
		if err != nil {
			rs.fail(rs.display(rel), err)
			return nil
		}
		d.pending.Add(1)
		sub.pending.Store(1)
		rs.mu.Lock()
		rs.res.Dirs++
		rs.mu.Unlock()
		if n.Subtree != nil {
			if err := rs.walk(ctx, sub, *n.Subtree, jobs); err != nil {
				return err
			}
		}
		rs.done(sub)
		return nil
	case snapshot.TypeFile:
		if n.Error != "" {
			rs.fail(rs.display(rel), fmt.Errorf("not in the snapshot: it could not be read at backup time: %s", n.Error))
			return nil
		}
		if n.Links > 1 {
			key := [2]uint64{n.DeviceID, n.Inode}
			rs.mu.Lock()
			first, seen := rs.links[key]
			if seen {
				rs.deferred = append(rs.deferred, linkJob{first: first, at: linkEnd{d, name}})
				rs.mu.Unlock()
				d.pending.Add(1) // until the link is made
				return nil
			}
			rs.links[key] = linkEnd{d, name}
			rs.mu.Unlock()
			// The first name's directory stays open for links to it
			// found later, anywhere in the tree.
			d.pending.Add(1)
		}
		d.pending.Add(1)
		select {
		case jobs <- fileJob{dir: d, name: name, node: n}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	case snapshot.TypeSocket:
		rs.mu.Lock()
		rs.res.Skipped = append(rs.res.Skipped, rs.display(rel)+": socket (recorded, not restorable)")
		rs.mu.Unlock()
		return nil
	}
	if err := rs.restoreOther(d, name, n); err != nil {
		rs.fail(rs.display(rel), err)
	}
	return nil
}

// enter makes name in d a directory and opens it: created when missing
// (owner and mode at once, the rest when it is finished), used as it is
// when it exists. A symlink or other non-directory of that name is
// refused, never followed nor replaced.
func (rs *restorer) enter(d *dir, name, rel string, n *snapshot.Node) (*dir, error) {
	pfd, err := rs.dirs.acquire(d)
	if err != nil {
		return nil, err
	}
	defer rs.dirs.release(d)
	created := true
	if err := unix.Mkdirat(pfd, name, 0o700); errors.Is(err, unix.EEXIST) {
		created = false
	} else if err != nil {
		return nil, &os.PathError{Op: "mkdir", Path: rs.display(rel), Err: err}
	}
	fd, err := openDir(pfd, name)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	sub := &dir{parent: d, name: name, rel: rel, dev: st.Dev, ino: st.Ino}
	rs.dirs.add(sub, fd)
	defer rs.dirs.release(sub)
	if created || rs.opts.Owned {
		sub.meta = n
		// Owner and mode now, so that an interrupted restore leaves no
		// root-owned 0700 directory (root needs no permission bits to
		// write into it; another user its own rwx until it is finished).
		mode := n.Mode & 0o7777
		if os.Geteuid() == 0 {
			_ = unix.Fchown(fd, int(n.UID), int(n.GID))
		} else {
			mode |= 0o700
		}
		_ = unix.Fchmod(fd, mode)
	}
	return sub, nil
}

func tempName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ".cairn-restore-" + hex.EncodeToString(b[:])
}

// replace renames tmp over name, both in fd, refusing to replace a
// directory.
func replace(fd int, tmp, name string) error {
	err := unix.Renameat(fd, tmp, fd, name)
	if err == nil {
		return nil
	}
	_ = unix.Unlinkat(fd, tmp, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		return errors.New("a directory of that name exists in the target; not replacing it")
	}
	return &os.PathError{Op: "rename", Path: name, Err: err}
}

func (rs *restorer) restoreOther(d *dir, name string, n *snapshot.Node) error {
	fd, err := rs.dirs.acquire(d)
	if err != nil {
		return err
	}
	defer rs.dirs.release(d)
	tmp := tempName()
	switch n.Type {
	case snapshot.TypeSymlink:
		if err := unix.Symlinkat(n.RawLinkTarget(), fd, tmp); err != nil {
			return &os.PathError{Op: "symlink", Path: name, Err: err}
		}
	case snapshot.TypeDevice, snapshot.TypeChar, snapshot.TypeFIFO:
		if err := fsmeta.MakeSpecialAt(fd, tmp, n); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown node type %q", n.Type)
	}
	if err := fsmeta.ApplyAt(fd, tmp, n); err != nil {
		_ = unix.Unlinkat(fd, tmp, 0)
		return err
	}
	if err := replace(fd, tmp, name); err != nil {
		return err
	}
	rs.mu.Lock()
	rs.res.Others++
	rs.mu.Unlock()
	return nil
}

// A written file waiting for its fsync, rename and count. Its directory
// is held (acquired) until then.
type syncJob struct {
	fileJob
	dfd int
	fd  int
	tmp string
}

// writeFile writes a file to a new temporary name in its directory and
// puts its metadata on it; commit then makes it durable and renames it
// into place.
func (rs *restorer) writeFile(ctx context.Context, j fileJob, buf *[]byte) (*syncJob, error) {
	dfd, err := rs.dirs.acquire(j.dir)
	if err != nil {
		return nil, err
	}
	tmp := tempName()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		rs.dirs.release(j.dir)
		return nil, &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	err = rs.writeContent(ctx, fd, j.node, buf)
	if err == nil {
		err = fsmeta.ApplyFd(fd, j.name, j.node)
	}
	if err != nil {
		unix.Close(fd)
		_ = unix.Unlinkat(dfd, tmp, 0)
		rs.dirs.release(j.dir)
		return nil, err
	}
	return &syncJob{fileJob: j, dfd: dfd, fd: fd, tmp: tmp}, nil
}

// commit fsyncs a written file, renames it over its name and counts it:
// once renamed, the file is on disk as it was backed up. Commits run in a
// pool of their own, wider than the writers: an fsync waits for the disk,
// not for a CPU, and concurrent ones share a journal commit.
func (rs *restorer) commit(s *syncJob) error {
	defer rs.dirs.release(s.dir)
	err := rs.opts.fsync(s.fd)
	if err != nil {
		err = &os.PathError{Op: "fsync", Path: s.name, Err: err}
	}
	if cerr := unix.Close(s.fd); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: s.name, Err: cerr}
	}
	if err != nil {
		_ = unix.Unlinkat(s.dfd, s.tmp, 0)
		return err
	}
	if err := replace(s.dfd, s.tmp, s.name); err != nil {
		return err
	}
	rs.mu.Lock()
	rs.res.Files++
	rs.res.Bytes += int64(s.node.Size)
	if rs.opts.Verify {
		rs.verify = append(rs.verify, verifyJob{join(s.dir.rel, s.name), s.node})
	}
	rs.mu.Unlock()
	rs.opts.Progress.Files.Add(1)
	return nil
}

// maxRun bounds how many stored bytes of consecutive blobs are fetched in
// one request: fewer requests (what matters on S3) for a little memory.
const maxRun = 8 << 20

func (rs *restorer) writeContent(ctx context.Context, fd int, n *snapshot.Node, buf *[]byte) error {
	var off int64
	write := func(data []byte) error {
		if !(n.Sparse && allZero(data)) {
			if err := pwrite(fd, data, off); err != nil {
				return err
			}
		}
		off += int64(len(data))
		rs.opts.Progress.Bytes.Add(int64(len(data)))
		return nil
	}
	ids := n.Content
	for i := 0; i < len(ids); {
		run := rs.run(ids[i:])
		if len(run) < 2 {
			data, err := rs.loadSmall(ctx, ids[i], run, *buf)
			if err != nil {
				return err
			}
			*buf = data
			if err := write(data); err != nil {
				return err
			}
			i++
			continue
		}
		first, last := run[0], run[len(run)-1]
		start := int64(first.Offset)
		raw, err := rs.r.ReadPackRange(ctx, first.Pack, start, int64(last.Offset)+int64(last.Length)-start)
		if err != nil {
			return err
		}
		for k, loc := range run {
			sealed := raw[int64(loc.Offset)-start : int64(loc.Offset)-start+int64(loc.Length)]
			data, err := rs.r.OpenBlob(blob.Data, ids[i+k], sealed, loc.RawLength, *buf)
			if err != nil {
				return err
			}
			*buf = data
			if err := write(data); err != nil {
				return err
			}
		}
		i += len(run)
	}
	if !n.Sparse {
		return nil // a new file, every byte written
	}
	// Holes at the end are not written: the size makes them.
	if err := unix.Ftruncate(fd, off); err != nil {
		return &os.PathError{Op: "truncate", Path: n.RawName(), Err: err}
	}
	return nil
}

func pwrite(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// loadSmall loads one blob, through the window cache when it is small.
func (rs *restorer) loadSmall(ctx context.Context, id blob.ID, run []index.Location, buf []byte) ([]byte, error) {
	if len(run) == 1 {
		sealed, ok, err := rs.win.sealed(ctx, run[0])
		if err != nil {
			return nil, err
		}
		if ok {
			return rs.r.OpenBlob(blob.Data, id, sealed, run[0].RawLength, buf)
		}
	}
	return rs.r.LoadBlob(ctx, blob.Data, id, buf)
}

// run returns the locations of the longest prefix of ids stored back to
// back in one pack, up to maxRun bytes (nil if the first is not indexed).
func (rs *restorer) run(ids []blob.ID) []index.Location {
	var out []index.Location
	var size int64
	for _, id := range ids {
		loc, ok := rs.r.Lookup(id)
		if !ok || loc.Type != blob.Data {
			break
		}
		if len(out) > 0 {
			prev := out[len(out)-1]
			if loc.Pack != prev.Pack || loc.Offset != prev.Offset+prev.Length || size+int64(loc.Length) > maxRun {
				break
			}
		}
		out = append(out, loc)
		size += int64(loc.Length)
	}
	return out
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// finishLinks creates the second and later names of hard-linked files.
func (rs *restorer) finishLinks() {
	for _, l := range rs.deferred {
		if err := rs.link(l); err != nil {
			rs.fail(rs.display(join(l.at.dir.rel, l.at.name)), err)
		} else {
			rs.res.Links++
		}
		rs.done(l.at.dir)
	}
	for _, first := range rs.links {
		rs.done(first.dir)
	}
}

func (rs *restorer) link(l linkJob) error {
	from, err := rs.dirs.acquire(l.first.dir)
	if err != nil {
		return err
	}
	defer rs.dirs.release(l.first.dir)
	to, err := rs.dirs.acquire(l.at.dir)
	if err != nil {
		return err
	}
	defer rs.dirs.release(l.at.dir)
	tmp := tempName()
	// linkat without AT_SYMLINK_FOLLOW links the entry itself.
	if err := unix.Linkat(from, l.first.name, to, tmp, 0); err != nil {
		return fmt.Errorf("hard link to %s: %w", rs.display(join(l.first.dir.rel, l.first.name)), err)
	}
	return replace(to, tmp, l.at.name)
}

// runVerify re-reads every restored file and compares it, chunk by chunk,
// with the snapshot.
func (rs *restorer) runVerify(ctx context.Context, root int) {
	jobs := make(chan verifyJob)
	var wg sync.WaitGroup
	for i := 0; i < rs.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := rs.verifyFile(ctx, root, j); err != nil {
					rs.fail(rs.display(j.rel), fmt.Errorf("verify: %w", err))
					continue
				}
				rs.mu.Lock()
				rs.res.Verified++
				rs.mu.Unlock()
			}
		}()
	}
	for _, j := range rs.verify {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
}

func (rs *restorer) verifyFile(ctx context.Context, root int, j verifyJob) error {
	f, err := openBeneath(root, j.rel)
	if err != nil {
		return err
	}
	defer f.Close()
	var buf []byte
	var off int64
	for i, id := range j.node.Content {
		loc, ok := rs.r.Lookup(id)
		if !ok {
			return fmt.Errorf("chunk %d (%s) not in index", i, id.Short())
		}
		if cap(buf) < int(loc.RawLength) {
			buf = make([]byte, loc.RawLength)
		}
		buf = buf[:loc.RawLength]
		if _, err := io.ReadFull(f, buf); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		if !rs.r.VerifyBlob(id, buf) {
			return fmt.Errorf("chunk %d at byte %d differs from the snapshot", i, off)
		}
		off += int64(len(buf))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 {
		return errors.New("file is longer than in the snapshot")
	}
	return nil
}

// openBeneath opens the file rel of the directory root for reading, one
// name at a time, following no symlink.
func openBeneath(root int, rel string) (*os.File, error) {
	parts := strings.Split(rel, "/")
	fd := root
	for i, name := range parts {
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			flags |= unix.O_DIRECTORY
		}
		next, err := unix.Openat(fd, name, flags, 0)
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: rel, Err: err}
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), rel), nil
}
