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
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/internal/fsmeta"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Options say where and what to restore.
type Options struct {
	Target   string
	Include  []string // snapshot paths (slash-separated, relative to the root); empty: everything
	Verify   bool     // re-read every restored file and check it against the snapshot
	Workers  int      // files written in parallel (default GOMAXPROCS+2)
	Progress *Progress
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

type restorer struct {
	r    *repo.Repository
	opts Options
	win  *windows

	mu       sync.Mutex
	res      Result
	dirs     []dirMeta
	links    map[[2]uint64]string // (device, inode) → first restored path
	deferred []linkJob
	verify   []verifyJob
}

type dirMeta struct {
	path string
	node *snapshot.Node
}

type linkJob struct{ target, path string }

type verifyJob struct {
	path string
	node *snapshot.Node
}

type fileJob struct {
	path string
	node *snapshot.Node
}

// Run restores sn into opts.Target.
func Run(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, opts Options) (*Result, error) {
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
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("restorer: target: %w", err)
	}
	rs := &restorer{r: r, opts: opts, links: map[[2]uint64]string{}, win: newWindows(r)}

	jobs := make(chan fileJob, 4*opts.Workers)
	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1<<20)
			for j := range jobs {
				if err := rs.restoreFile(ctx, j.path, j.node, &buf); err != nil {
					rs.fail(j.path, err)
				}
			}
		}()
	}
	walkErr := snapshot.Walk(ctx, r, sn.Tree, func(rel string, n *snapshot.Node) error {
		if !rs.included(rel, n) {
			return snapshot.SkipDir
		}
		path := filepath.Join(target, filepath.FromSlash(rel))
		return rs.visit(ctx, path, n, jobs)
	})
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return &rs.res, fmt.Errorf("restorer: %w", walkErr)
	}
	if err := ctx.Err(); err != nil {
		return &rs.res, err
	}
	rs.finishLinks()
	// Directory metadata last, deepest first, so writing files into a
	// directory does not change its restored mtime.
	sort.Slice(rs.dirs, func(i, j int) bool { return len(rs.dirs[i].path) > len(rs.dirs[j].path) })
	for _, d := range rs.dirs {
		if err := fsmeta.Apply(d.path, d.node); err != nil {
			rs.fail(d.path, err)
		}
	}
	if sn.Root != nil && len(opts.Include) == 0 {
		if err := fsmeta.Apply(target, sn.Root); err != nil {
			rs.fail(target, err)
		}
	}
	if opts.Verify {
		rs.runVerify(ctx)
	}
	if len(rs.res.Errors) > 0 {
		return &rs.res, fmt.Errorf("%w: %d entries failed (first: %s)", ErrPartial, len(rs.res.Errors), rs.res.Errors[0])
	}
	return &rs.res, nil
}

func (rs *restorer) fail(path string, err error) {
	rs.opts.Progress.Errors.Add(1)
	rs.mu.Lock()
	rs.res.Errors = append(rs.res.Errors, fmt.Sprintf("%s: %v", path, err))
	rs.mu.Unlock()
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

func (rs *restorer) visit(ctx context.Context, path string, n *snapshot.Node, jobs chan<- fileJob) error {
	switch n.Type {
	case snapshot.TypeDir:
		if err := ensureDir(path); err != nil {
			rs.fail(path, err)
			return snapshot.SkipDir
		}
		rs.mu.Lock()
		rs.dirs = append(rs.dirs, dirMeta{path, n})
		rs.res.Dirs++
		rs.mu.Unlock()
		return nil
	case snapshot.TypeFile:
		if n.Error != "" {
			rs.fail(path, fmt.Errorf("not in the snapshot: it could not be read at backup time: %s", n.Error))
			return nil
		}
		if n.Links > 1 {
			key := [2]uint64{n.DeviceID, n.Inode}
			rs.mu.Lock()
			first, seen := rs.links[key]
			if seen {
				rs.deferred = append(rs.deferred, linkJob{target: first, path: path})
				rs.mu.Unlock()
				return nil
			}
			rs.links[key] = path
			rs.mu.Unlock()
		}
		select {
		case jobs <- fileJob{path: path, node: n}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	case snapshot.TypeSocket:
		rs.mu.Lock()
		rs.res.Skipped = append(rs.res.Skipped, path+": socket (recorded, not restorable)")
		rs.mu.Unlock()
		return nil
	}
	if err := rs.restoreOther(path, n); err != nil {
		rs.fail(path, err)
	}
	return nil
}

// ensureDir makes path a directory, replacing a non-directory of the same
// name (the restore rule: same names are overwritten).
func ensureDir(path string) error {
	fi, err := os.Lstat(path)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return os.Mkdir(path, 0o700)
}

func tempName(path string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(filepath.Dir(path), ".cairn-restore-"+hex.EncodeToString(b[:]))
}

// replace renames tmp over path, refusing to replace a directory.
func replace(tmp, path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		os.Remove(tmp)
		return fmt.Errorf("a directory of that name exists in the target; not replacing it with a %s", "file")
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (rs *restorer) restoreOther(path string, n *snapshot.Node) error {
	tmp := tempName(path)
	switch n.Type {
	case snapshot.TypeSymlink:
		if err := os.Symlink(n.RawLinkTarget(), tmp); err != nil {
			return err
		}
	case snapshot.TypeDevice, snapshot.TypeChar, snapshot.TypeFIFO:
		if err := fsmeta.MakeSpecial(tmp, n); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown node type %q", n.Type)
	}
	if err := fsmeta.Apply(tmp, n); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := replace(tmp, path); err != nil {
		return err
	}
	rs.mu.Lock()
	rs.res.Others++
	rs.mu.Unlock()
	return nil
}

func (rs *restorer) restoreFile(ctx context.Context, path string, n *snapshot.Node, buf *[]byte) error {
	tmp := tempName(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	werr := rs.writeContent(ctx, f, n, buf)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = fsmeta.Apply(tmp, n)
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	if err := replace(tmp, path); err != nil {
		return err
	}
	rs.mu.Lock()
	rs.res.Files++
	rs.res.Bytes += int64(n.Size)
	if rs.opts.Verify {
		rs.verify = append(rs.verify, verifyJob{path, n})
	}
	rs.mu.Unlock()
	rs.opts.Progress.Files.Add(1)
	return nil
}

// maxRun bounds how many stored bytes of consecutive blobs are fetched in
// one request: fewer requests (what matters on S3) for a little memory.
const maxRun = 8 << 20

func (rs *restorer) writeContent(ctx context.Context, f *os.File, n *snapshot.Node, buf *[]byte) error {
	var off int64
	write := func(data []byte) error {
		if !(n.Sparse && allZero(data)) {
			if _, err := f.WriteAt(data, off); err != nil {
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
	return f.Truncate(off)
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
		loc, ok := rs.r.Index().Lookup(id)
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
		tmp := tempName(l.path)
		if err := os.Link(l.target, tmp); err != nil {
			rs.fail(l.path, fmt.Errorf("hard link to %s: %w", l.target, err))
			continue
		}
		if err := replace(tmp, l.path); err != nil {
			rs.fail(l.path, err)
			continue
		}
		rs.res.Links++
	}
}

// runVerify re-reads every restored file and compares it, chunk by chunk,
// with the snapshot.
func (rs *restorer) runVerify(ctx context.Context) {
	jobs := make(chan verifyJob)
	var wg sync.WaitGroup
	for i := 0; i < rs.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := rs.verifyFile(ctx, j); err != nil {
					rs.fail(j.path, fmt.Errorf("verify: %w", err))
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

func (rs *restorer) verifyFile(ctx context.Context, j verifyJob) error {
	f, err := os.Open(j.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var buf []byte
	var off int64
	for i, id := range j.node.Content {
		loc, ok := rs.r.Index().Lookup(id)
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
