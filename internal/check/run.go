package check

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/repo/pack"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

type checker struct {
	r      *repo.Repository
	opts   Options
	rep    *Report
	mu     sync.Mutex
	packs  map[blob.ID][]pack.Entry // from the index files
	stored map[blob.ID]int64        // packs in the store, with sizes
	bad    map[blob.ID]string       // damaged or missing blobs → reason
}

func (c *checker) errorf(format string, args ...any) {
	c.mu.Lock()
	c.rep.Errors = append(c.rep.Errors, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// Run checks the repository's structure: every index file and snapshot
// decodes, every tree of every snapshot loads, every blob they reference is
// indexed and every indexed pack exists. With ReadData it also reads all
// data. It returns a report, and an error wrapping ErrDamaged if anything
// is wrong.
func Run(ctx context.Context, r *repo.Repository, opts Options) (*Report, error) {
	c := &checker{r: r, opts: opts, rep: &Report{}, packs: map[blob.ID][]pack.Entry{}, stored: map[blob.ID]int64{}, bad: map[blob.ID]string{}}
	if err := c.loadIndex(ctx); err != nil {
		return c.rep, err
	}
	if err := c.listPacks(ctx); err != nil {
		return c.rep, err
	}
	if opts.ReadData || opts.Subset.Of > 0 {
		if err := c.readData(ctx); err != nil {
			return c.rep, err
		}
	}
	snaps, err := c.loadSnapshots(ctx)
	if err != nil {
		return c.rep, err
	}
	c.checkTrees(ctx, snaps)
	if len(c.bad) > 0 {
		c.mapAffected(ctx, snaps)
	}
	c.reportObjects()
	sort.Strings(c.rep.Errors)
	if len(c.rep.Errors) > 0 || len(c.rep.DamagedPacks) > 0 {
		return c.rep, fmt.Errorf("%w: %d errors, %d damaged packs, %d files affected", ErrDamaged, len(c.rep.Errors), len(c.rep.DamagedPacks), len(c.rep.Affected))
	}
	return c.rep, nil
}

// loadIndex reads the index files as every reader does (unreadable ones
// skipped, superseded ones ignored), also into the repository's index.
func (c *checker) loadIndex(ctx context.Context) error {
	if _, err := c.r.ReloadIndexFiles(ctx, func(_ string, packs []index.Pack) {
		for _, p := range packs {
			if _, ok := c.packs[p.ID]; !ok {
				c.packs[p.ID] = p.Entries
			}
		}
	}); err != nil {
		return fmt.Errorf("check: read index: %w", err)
	}
	blobs := map[blob.ID]bool{}
	for _, es := range c.packs {
		for _, e := range es {
			blobs[e.ID] = true
		}
	}
	c.rep.Packs, c.rep.Blobs = len(c.packs), len(blobs)
	c.rep.Superseded = len(c.r.SupersededKeys())
	return ctx.Err()
}

// reportObjects names the objects readers skipped and the ones read from
// an older version.
func (c *checker) reportObjects() {
	for _, b := range c.r.BadObjects() {
		c.rep.Unreadable = append(c.rep.Unreadable, Unreadable{Key: b.Key, Reason: b.Err.Error()})
		c.errorf("%s cannot be read, readers skip it: %v", b.Key, b.Err)
	}
	for _, s := range c.r.Shadowed() {
		c.rep.Shadowed = append(c.rep.Shadowed, s)
		what := s.Key
		if kind, id, err := repo.ParseKey(s.Key); err == nil && kind == repo.KindData {
			what = "pack " + id
		}
		c.errorf("%s: current version does not match its name; version %s (%s) does — the object was overwritten",
			what, s.Version, s.ModTime.UTC().Format(time.RFC3339))
	}
}

func (c *checker) listPacks(ctx context.Context) error {
	strays, err := c.r.ListPacks(ctx, func(id blob.ID, fi store.Info) error {
		c.stored[id] = fi.Size
		return nil
	})
	if err != nil {
		return fmt.Errorf("check: list packs: %w", err)
	}
	for _, key := range strays {
		c.errorf("unexpected object %s in %s", key, repo.KindData.Prefix())
	}
	for id, entries := range c.packs {
		if _, ok := c.stored[id]; !ok {
			c.damaged(id, "pack is missing from the store", entries)
		}
	}
	for id := range c.stored {
		if _, ok := c.packs[id]; !ok {
			c.rep.OrphanPacks++
		}
	}
	return nil
}

// damaged records a pack and the blobs in it that cannot be read.
func (c *checker) damaged(id blob.ID, reason string, blobs []pack.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dp := DamagedPack{ID: id.String(), Reason: reason}
	for _, e := range blobs {
		dp.Blobs = append(dp.Blobs, e.ID.String())
		c.bad[e.ID] = fmt.Sprintf("%s in pack %s: %s", e.Type, id.Short(), reason)
	}
	c.rep.DamagedPacks = append(c.rep.DamagedPacks, dp)
}

func (c *checker) readData(ctx context.Context) error {
	ids := make([]blob.ID, 0, len(c.packs))
	for id := range c.packs {
		if _, ok := c.stored[id]; ok && (c.opts.ReadData || c.opts.Subset.Holds(id)) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	done := 0
	for _, id := range ids {
		g.Go(func() error {
			if err := c.readPack(gctx, id); err != nil {
				return err
			}
			c.mu.Lock()
			done++
			c.rep.PacksRead = done
			n := done
			c.mu.Unlock()
			if c.opts.Progress != nil {
				c.opts.Progress(n, len(ids))
			}
			return nil
		})
	}
	return g.Wait()
}

// readPack reads one pack in full and verifies its name, header and blobs.
func (c *checker) readPack(ctx context.Context, id blob.ID) error {
	data, err := c.r.ReadPack(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.damaged(id, fmt.Sprintf("cannot be read: %v", err), c.packs[id])
		return nil
	}
	var reasons []string
	if blob.ID(sha256.Sum256(data)) != id {
		reasons = append(reasons, "content does not match its SHA-256 name")
	}
	if _, err := c.r.ParsePack(data); err != nil {
		reasons = append(reasons, fmt.Sprintf("header: %v", err))
	}
	var badBlobs []pack.Entry
	for _, e := range c.packs[id] {
		end := int64(e.Offset) + int64(e.Length)
		if end > int64(len(data)) {
			badBlobs = append(badBlobs, e)
			continue
		}
		sealed := append([]byte(nil), data[e.Offset:end]...)
		plain, err := c.r.OpenBlob(e.Type, e.ID, sealed, e.RawLength, nil)
		if err != nil || !c.r.VerifyBlob(e.ID, plain) {
			badBlobs = append(badBlobs, e)
		}
	}
	if len(badBlobs) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d of %d blobs fail authentication", len(badBlobs), len(c.packs[id])))
	}
	if len(reasons) > 0 {
		c.damaged(id, strings.Join(reasons, "; "), badBlobs)
	}
	return nil
}

// loadSnapshots lists the snapshots as every reader does (unreadable files
// skipped and recorded in the repository, superseded ones ignored).
func (c *checker) loadSnapshots(ctx context.Context) ([]*snapshot.Snapshot, error) {
	snaps, err := snapshot.List(ctx, c.r)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	c.rep.Snapshots = len(snaps)
	return snaps, nil
}

// checkTrees loads every tree once and checks that what it references is indexed.
func (c *checker) checkTrees(ctx context.Context, snaps []*snapshot.Snapshot) {
	seen := map[blob.ID]bool{}
	var visit func(id blob.ID, where string)
	visit = func(id blob.ID, where string) {
		if seen[id] || ctx.Err() != nil {
			return
		}
		seen[id] = true
		c.rep.Trees++
		if _, ok := c.r.Lookup(id); !ok {
			c.errorf("%s: tree %s is not in the index", where, id.Short())
			c.bad[id] = "tree missing from index"
			return
		}
		t, err := snapshot.LoadTree(ctx, c.r, id)
		if err != nil {
			if _, known := c.bad[id]; !known {
				c.errorf("%s: tree %s: %v", where, id.Short(), err)
				c.bad[id] = err.Error()
			}
			return
		}
		for i := range t.Nodes {
			n := &t.Nodes[i]
			p := where + "/" + n.RawName()
			for _, b := range n.Content {
				if _, ok := c.r.Lookup(b); !ok {
					c.errorf("%s: data blob %s is not in the index", p, b.Short())
					c.bad[b] = "data blob missing from index"
				}
			}
			if n.Subtree != nil {
				visit(*n.Subtree, p)
			}
		}
	}
	for _, s := range snaps {
		visit(s.Tree, "snapshot "+s.ShortID())
	}
}

// mapAffected walks every snapshot and names the files and directories
// that use a damaged blob.
func (c *checker) mapAffected(ctx context.Context, snaps []*snapshot.Snapshot) {
	for _, s := range snaps {
		if reason, bad := c.bad[s.Tree]; bad {
			c.rep.Affected = append(c.rep.Affected, Affected{Snapshot: s.ShortID(), Path: "/", Reason: reason})
			continue
		}
		_ = snapshot.Walk(ctx, c.r, s.Tree, func(path string, n *snapshot.Node) error {
			if n.Subtree != nil {
				if reason, bad := c.bad[*n.Subtree]; bad {
					c.rep.Affected = append(c.rep.Affected, Affected{Snapshot: s.ShortID(), Path: path + "/", Reason: reason})
					return snapshot.SkipDir
				}
			}
			for _, b := range n.Content {
				if reason, bad := c.bad[b]; bad {
					c.rep.Affected = append(c.rep.Affected, Affected{Snapshot: s.ShortID(), Path: path, Reason: reason})
					break
				}
			}
			return nil
		})
	}
}
