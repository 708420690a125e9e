package prune

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/repo/pack"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// Options tune a prune.
type Options struct {
	DryRun bool
	// MaxUnused is the fraction of unused bytes above which a partly used
	// pack is rewritten (default 0.2).
	MaxUnused float64
	Now       func() time.Time
}

// Report says what a prune did (or, with DryRun, would do).
type Report struct {
	Snapshots      int      `json:"snapshots"`
	PacksKept      int64    `json:"packs_kept"`
	PacksDeleted   int64    `json:"packs_deleted"`
	PacksRewritten int64    `json:"packs_rewritten"`
	BlobsRemoved   int64    `json:"blobs_removed"`
	BlobsKept      int64    `json:"blobs_kept"`
	BytesFreed     int64    `json:"bytes_freed"`
	IndexFiles     int      `json:"index_files_replaced"`
	Orphans        int      `json:"orphan_packs"`
	Locked         []string `json:"locked,omitempty"` // objects left because they are under retention
	DryRun         bool     `json:"dry_run,omitempty"`
}

type packInfo struct {
	entries    []pack.Entry
	size       int64
	usedBytes  int64
	totalBytes int64
	used       []pack.Entry
}

// Run prunes r. The caller holds the exclusive lock.
func Run(ctx context.Context, r *repo.Repository, opts Options) (*Report, error) {
	if opts.MaxUnused <= 0 {
		opts.MaxUnused = 0.2
	}
	rep := &Report{DryRun: opts.DryRun}

	// 1. What the index files say, and what the store holds.
	packs := map[blob.ID]*packInfo{}
	if _, err := r.ReloadIndexFiles(ctx, func(_ string, ps []index.Pack) {
		for _, p := range ps {
			if _, ok := packs[p.ID]; !ok {
				packs[p.ID] = &packInfo{entries: p.Entries}
			}
		}
	}); err != nil {
		return nil, fmt.Errorf("prune: read index: %w", err)
	}
	var orphans []blob.ID
	if err := r.Store().List(ctx, "data/", func(fi store.Info) error {
		id, err := blob.ParseID(fi.Key[strings.LastIndexByte(fi.Key, '/')+1:])
		if err != nil {
			return nil
		}
		if p, ok := packs[id]; ok {
			p.size = fi.Size
		} else {
			orphans = append(orphans, id)
			rep.BytesFreed += fi.Size
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("prune: list packs: %w", err)
	}
	rep.Orphans = len(orphans)

	// 2. What the snapshots use. Any tree that cannot be read stops prune:
	// deleting on incomplete knowledge could lose data.
	used, n, err := usedBlobs(ctx, r)
	if err != nil {
		return nil, err
	}
	rep.Snapshots = n

	// 3. Decide per pack. A blob stored twice is live only where the index
	// points at it.
	var del, rewrite []blob.ID
	for id, p := range packs {
		if p.size == 0 {
			continue // listed in the index but missing: leave it to check
		}
		for _, e := range p.entries {
			p.totalBytes += int64(e.Length)
			loc, ok := r.Index().Lookup(e.ID)
			if used[e.ID] && ok && loc.Pack == id {
				p.usedBytes += int64(e.Length)
				p.used = append(p.used, e)
			}
		}
		switch {
		case len(p.used) == 0:
			del = append(del, id)
			rep.BlobsRemoved += int64(len(p.entries))
			rep.BytesFreed += p.size
		case float64(p.totalBytes-p.usedBytes) > opts.MaxUnused*float64(p.totalBytes):
			rewrite = append(rewrite, id)
			rep.BlobsRemoved += int64(len(p.entries) - len(p.used))
			rep.BlobsKept += int64(len(p.used))
			rep.BytesFreed += p.totalBytes - p.usedBytes
		default:
			rep.PacksKept++
			rep.BlobsKept += int64(len(p.entries))
		}
	}
	rep.PacksDeleted, rep.PacksRewritten = int64(len(del)), int64(len(rewrite))
	if opts.DryRun || (len(del) == 0 && len(rewrite) == 0 && len(orphans) == 0) {
		return rep, nil
	}

	// 4. Copy live blobs out of packs being rewritten.
	for _, id := range rewrite {
		if err := copyLive(ctx, r, id, packs[id].used); err != nil {
			return rep, err
		}
	}
	if err := r.Flush(ctx); err != nil {
		return rep, fmt.Errorf("prune: write new packs: %w", err)
	}

	// 5. A new index of everything kept, then the old index files go.
	gone := map[blob.ID]bool{}
	for _, id := range append(append([]blob.ID(nil), del...), rewrite...) {
		gone[id] = true
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return rep, err
	}
	keep := map[blob.ID][]pack.Entry{}
	r.Index().Each(func(id blob.ID, loc index.Location) bool {
		if !gone[loc.Pack] {
			keep[loc.Pack] = append(keep[loc.Pack], pack.Entry{Type: loc.Type, ID: id, Offset: loc.Offset, Length: loc.Length, RawLength: loc.RawLength})
		}
		return true
	})
	newIndex, err := writeIndex(ctx, r, keep)
	if err != nil {
		return rep, err
	}
	all, err := listIndex(ctx, r)
	if err != nil {
		return rep, err
	}
	for _, id := range all {
		if newIndex[id] {
			continue
		}
		if err := r.DeleteUnpacked(ctx, repo.KindIndex, id); err != nil {
			if errors.Is(err, store.ErrLocked) {
				rep.Locked = append(rep.Locked, "index/"+id)
				continue
			}
			return rep, fmt.Errorf("prune: delete old index: %w", err)
		}
		rep.IndexFiles++
	}
	// 6. Old packs last.
	for _, id := range append(append(del, rewrite...), orphans...) {
		if err := r.Store().Delete(ctx, repo.PackKey(id)); err != nil {
			if errors.Is(err, store.ErrLocked) {
				rep.Locked = append(rep.Locked, repo.PackKey(id))
				continue
			}
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return rep, fmt.Errorf("prune: delete pack: %w", err)
		}
	}
	sort.Strings(rep.Locked)
	return rep, r.ReloadIndex(ctx)
}

// usedBlobs walks every snapshot's trees and returns every blob they use.
func usedBlobs(ctx context.Context, r *repo.Repository) (map[blob.ID]bool, int, error) {
	snaps, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, 0, fmt.Errorf("prune: %w", err)
	}
	used := map[blob.ID]bool{}
	var visit func(id blob.ID) error
	visit = func(id blob.ID) error {
		if used[id] {
			return nil
		}
		used[id] = true
		t, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			return fmt.Errorf("prune: tree %s cannot be read, refusing to delete anything (run `cairn repo check`): %w", id.Short(), err)
		}
		for i := range t.Nodes {
			for _, b := range t.Nodes[i].Content {
				used[b] = true
			}
			if t.Nodes[i].Subtree != nil {
				if err := visit(*t.Nodes[i].Subtree); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range snaps {
		if err := visit(s.Tree); err != nil {
			return nil, 0, err
		}
	}
	return used, len(snaps), nil
}

// copyLive reads a pack once and re-packs its live blobs, verifying each.
func copyLive(ctx context.Context, r *repo.Repository, id blob.ID, live []pack.Entry) error {
	data, err := store.ReadAll(ctx, r.Store(), repo.PackKey(id))
	if err != nil {
		return fmt.Errorf("prune: read pack %s: %w", id.Short(), err)
	}
	for _, e := range live {
		end := int(e.Offset) + int(e.Length)
		if end > len(data) {
			return fmt.Errorf("prune: pack %s is shorter than its index says: %w", id.Short(), repo.ErrCorrupt)
		}
		sealed := data[e.Offset:end]
		if _, err := r.OpenBlob(e.Type, e.ID, append([]byte(nil), sealed...), e.RawLength, nil); err != nil {
			return fmt.Errorf("prune: pack %s: refusing to copy a damaged blob: %w", id.Short(), err)
		}
		if _, err := r.CopySealed(ctx, e.Type, e.ID, sealed, int(e.RawLength)); err != nil {
			return err
		}
	}
	return nil
}

// maxEntriesPerIndex bounds the size of one index file.
const maxEntriesPerIndex = 100000

func writeIndex(ctx context.Context, r *repo.Repository, keep map[blob.ID][]pack.Entry) (map[string]bool, error) {
	ids := make([]blob.ID, 0, len(keep))
	for id := range keep {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	written := map[string]bool{}
	var batch []index.Pack
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		id, err := r.SaveUnpacked(ctx, repo.KindIndex, index.Encode(batch))
		if err != nil {
			return fmt.Errorf("prune: write index: %w", err)
		}
		written[id] = true
		batch, n = nil, 0
		return nil
	}
	for _, id := range ids {
		es := keep[id]
		sort.Slice(es, func(i, j int) bool { return es[i].Offset < es[j].Offset })
		batch = append(batch, index.Pack{ID: id, Entries: es})
		n += len(es)
		if n >= maxEntriesPerIndex {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return written, flush()
}

func listIndex(ctx context.Context, r *repo.Repository) ([]string, error) {
	var ids []string
	err := r.List(ctx, repo.KindIndex, func(id string, _ int64) error {
		ids = append(ids, id)
		return nil
	})
	return ids, err
}
