package prune

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Now is the clock (default time.Now). An orphan pack is deleted only
	// when the store says it was written more than repo.StaleAfter before
	// Now: a younger one may belong to a backup still running.
	Now func() time.Time
}

// ErrUnsafe: prune refused to delete anything because what it knows about
// the repository is incomplete (an index or snapshot file cannot be read,
// or a blob a snapshot uses is in no index): deleting then could destroy
// data that snapshots need.
var ErrUnsafe = errors.New("refusing to delete anything")

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
	Orphans        int      `json:"orphan_packs"`                   // packs no index file names
	OrphansAdopted int      `json:"orphan_packs_adopted"`           // of them, holding used blobs: indexed again from their headers
	OrphansRecent  int      `json:"orphan_packs_recent"`            // of them, unused but younger than the stale window: left alone
	OrphansDeleted int      `json:"orphan_packs_deleted"`           // of them, unused and older: deleted
	DamagedOrphans []string `json:"damaged_orphan_packs,omitempty"` // of them, headers unreadable: kept for check to report
	Locked         []string `json:"locked,omitempty"`               // objects left because they are under retention
	DryRun         bool     `json:"dry_run,omitempty"`
}

type packInfo struct {
	entries    []pack.Entry
	size       int64
	usedBytes  int64
	totalBytes int64
	used       []pack.Entry
}

// orphan is a pack in the store that no index file names.
type orphan struct {
	id      blob.ID
	size    int64
	modTime time.Time
}

// Plan is what a prune will do, decided before anything is written or
// deleted: NewPlan makes it, Execute carries it out. A dry run is the plan
// alone.
type Plan struct {
	// Report is what Execute will report, but for what only doing it tells
	// (IndexFiles, Locked); its DryRun is true.
	Report Report

	packs     map[blob.ID]*packInfo
	del       []blob.ID    // indexed packs no blob in use is in
	rewrite   []blob.ID    // indexed packs mostly unused: their live blobs are copied out
	orphanDel []blob.ID    // orphans unused and old
	adopted   []index.Pack // orphans holding used blobs
}

// Run prunes r: NewPlan, then Execute unless opts.DryRun (the report is
// then the plan's). The caller holds the exclusive lock.
func Run(ctx context.Context, r *repo.Repository, opts Options) (*Report, error) {
	p, err := NewPlan(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		rep := p.Report
		return &rep, nil
	}
	return Execute(ctx, r, p)
}

// NewPlan decides what a prune of r deletes, rewrites and adopts; it writes
// and deletes nothing (opts.DryRun is not read). The caller holds the
// exclusive lock until Execute is done with the plan.
//
// Prune deletes only on complete knowledge: when an index or snapshot file
// cannot be read, or a blob some snapshot uses is in no index, NewPlan
// returns an error wrapping ErrUnsafe. Packs that no index names (orphans)
// are read from their headers; one is deleted only when no snapshot uses
// any of its blobs and the store says it was written more than
// repo.StaleAfter ago (see sortOrphans).
func NewPlan(ctx context.Context, r *repo.Repository, opts Options) (*Plan, error) {
	if opts.MaxUnused <= 0 {
		opts.MaxUnused = 0.2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	plan := &Plan{Report: Report{DryRun: true}}
	rep := &plan.Report

	// 1. What the index files say, and what the snapshots use.
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
	used, n, err := usedBlobs(ctx, r)
	if err != nil {
		return nil, err
	}
	rep.Snapshots = n
	if err := complete(r, used); err != nil {
		return nil, err
	}

	// 2. What the store holds.
	var orphans []orphan
	if _, err := r.ListPacks(ctx, func(id blob.ID, fi store.Info) error {
		if p, ok := packs[id]; ok {
			p.size = fi.Size
		} else {
			orphans = append(orphans, orphan{id: id, size: fi.Size, modTime: fi.ModTime})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("prune: list packs: %w", err)
	}
	rep.Orphans = len(orphans)

	// 3. Orphans: adopted from their headers, deleted only when unused and old.
	adopted, orphanDel, err := sortOrphans(ctx, r, orphans, used, opts.Now(), rep)
	if err != nil {
		return nil, err
	}

	// 4. Decide per indexed pack. A blob stored twice is live only where
	// the index points at it.
	var del, rewrite []blob.ID
	for id, p := range packs {
		if p.size == 0 {
			continue // listed in the index but missing: leave it to check
		}
		for _, e := range p.entries {
			p.totalBytes += int64(e.Length)
			loc, ok := r.Lookup(e.ID)
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
	plan.packs, plan.del, plan.rewrite, plan.orphanDel, plan.adopted = packs, del, rewrite, orphanDel, adopted
	return plan, nil
}

// Execute carries out a plan NewPlan made of r, under the same exclusive
// lock. Nothing is rewritten in place: live blobs are copied out of the
// packs being rewritten, a new index of everything kept supersedes the old
// index files, which are then deleted, and the old packs last.
func Execute(ctx context.Context, r *repo.Repository, plan *Plan) (*Report, error) {
	rep := plan.Report
	rep.DryRun = false
	if len(plan.del) == 0 && len(plan.rewrite) == 0 && len(plan.orphanDel) == 0 && len(plan.adopted) == 0 {
		return &rep, nil
	}

	// 5. Copy live blobs out of packs being rewritten.
	for _, id := range plan.rewrite {
		if err := copyLive(ctx, r, id, plan.packs[id].used); err != nil {
			return &rep, err
		}
	}
	if err := r.Flush(ctx); err != nil {
		return &rep, fmt.Errorf("prune: write new packs: %w", err)
	}

	// 6. A new index of everything kept (adopted orphans included), which
	// supersedes the old index files; they are deleted where the store
	// allows.
	gone := map[blob.ID]bool{}
	for _, id := range slices.Concat(plan.del, plan.rewrite) {
		gone[id] = true
	}
	// Every pack an index file names, not only where the in-memory index
	// resolves each blob: a blob copied out of a rewritten pack is then in
	// two index files (the old pack's and the new one's), and the index
	// keeps whichever file it read first, in listing order. Keeping only
	// resolved locations dropped the copy half of the time.
	keep := map[blob.ID][]pack.Entry{}
	if _, err := r.ReloadIndexFiles(ctx, func(_ string, ps []index.Pack) {
		for _, p := range ps {
			if _, ok := keep[p.ID]; !ok && !gone[p.ID] {
				keep[p.ID] = p.Entries
			}
		}
	}); err != nil {
		return &rep, fmt.Errorf("prune: read index: %w", err)
	}
	for _, p := range plan.adopted {
		if _, ok := keep[p.ID]; !ok {
			keep[p.ID] = p.Entries
		}
	}
	replaced, err := r.ReplaceIndex(ctx, sortedPacks(keep))
	if replaced != nil {
		rep.IndexFiles = replaced.Deleted
		rep.Locked = append(rep.Locked, replaced.Locked...)
	}
	if err != nil {
		return &rep, fmt.Errorf("prune: replace index: %w", err)
	}

	// 7. Old packs last.
	for _, id := range slices.Concat(plan.del, plan.rewrite, plan.orphanDel) {
		if err := r.DeletePack(ctx, id); err != nil {
			if errors.Is(err, store.ErrLocked) {
				rep.Locked = append(rep.Locked, repo.PackKey(id))
				continue
			}
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return &rep, fmt.Errorf("prune: %w", err)
		}
	}
	sort.Strings(rep.Locked)
	return &rep, r.ReloadIndex(ctx)
}

// UnsafeError is the error, wrapping ErrUnsafe, that says what prune does
// not know: objects it cannot read, blobs in use that no index names, or a
// tree it cannot read. The caller (the CLI) names the commands that mend it.
type UnsafeError struct {
	Unreadable []string // keys of index and snapshot files that cannot be read
	Unindexed  []string // IDs of blobs that snapshots use and no index names
	Tree       blob.ID  // an indexed tree that cannot be read, when Err is set
	Err        error    // why Tree cannot be read
}

func (e *UnsafeError) Error() string {
	switch {
	case len(e.Unreadable) > 0:
		return fmt.Sprintf("prune: %v: %d objects cannot be read (%s), so what they reference is unknown",
			ErrUnsafe, len(e.Unreadable), sample(e.Unreadable))
	case len(e.Unindexed) > 0:
		return fmt.Sprintf("prune: %v: %d blobs that snapshots use are in no index (%s)",
			ErrUnsafe, len(e.Unindexed), sample(e.Unindexed))
	}
	return fmt.Sprintf("prune: %v: tree %s cannot be read: %v", ErrUnsafe, e.Tree.Short(), e.Err)
}

func (e *UnsafeError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrUnsafe, e.Err}
	}
	return []error{ErrUnsafe}
}

// complete returns an *UnsafeError when the index or the snapshots are not
// completely known.
func complete(r *repo.Repository, used map[blob.ID]bool) error {
	if bad := r.BadObjects(); len(bad) > 0 {
		var keys []string
		for _, b := range bad {
			keys = append(keys, b.Key)
		}
		return &UnsafeError{Unreadable: keys}
	}
	var unindexed []string
	for id := range used {
		if _, ok := r.Lookup(id); !ok {
			unindexed = append(unindexed, id.String())
		}
	}
	if len(unindexed) > 0 {
		sort.Strings(unindexed)
		return &UnsafeError{Unindexed: unindexed}
	}
	return nil
}

// sample names the first few of a list.
func sample(s []string) string {
	const n = 3
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// sortOrphans reads the orphans' headers and decides:
//
//   - none of its blobs used, and the store says it was written more than
//     repo.StaleAfter before now: deleted;
//   - none used, but younger: left as it is, neither indexed nor deleted (a
//     backup still running may have written it, and will index it; indexed
//     here, the next prune could delete it as an unused pack);
//   - some blob used (a copy of a blob indexed elsewhere): adopted, indexed
//     again from its header;
//   - header unreadable: kept and reported, its contents being unknown.
func sortOrphans(ctx context.Context, r *repo.Repository, orphans []orphan, used map[blob.ID]bool, now time.Time, rep *Report) (adopted []index.Pack, del []blob.ID, err error) {
	sort.Slice(orphans, func(i, j int) bool { return orphans[i].id.String() < orphans[j].id.String() })
	for _, o := range orphans {
		entries, err := r.PackHeader(ctx, o.id)
		if err != nil {
			if repo.IsBad(err) || errors.Is(err, store.ErrNotFound) {
				rep.DamagedOrphans = append(rep.DamagedOrphans, fmt.Sprintf("%s: %v", repo.PackKey(o.id), err))
				continue
			}
			return nil, nil, fmt.Errorf("prune: orphan pack %s: %w", o.id.Short(), err)
		}
		inUse := false
		for _, e := range entries {
			if used[e.ID] {
				inUse = true
				break
			}
		}
		old := !o.modTime.IsZero() && now.Sub(o.modTime) > repo.StaleAfter
		switch {
		case inUse:
			adopted = append(adopted, index.Pack{ID: o.id, Entries: entries})
			rep.OrphansAdopted++
		case old:
			del = append(del, o.id)
			rep.OrphansDeleted++
			rep.BytesFreed += o.size
			rep.BlobsRemoved += int64(len(entries))
		default:
			rep.OrphansRecent++
		}
	}
	return adopted, del, nil
}

func sortedPacks(m map[blob.ID][]pack.Entry) []index.Pack {
	out := make([]index.Pack, 0, len(m))
	for id, es := range m {
		sort.Slice(es, func(i, j int) bool { return es[i].Offset < es[j].Offset })
		out = append(out, index.Pack{ID: id, Entries: es})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out
}

// usedBlobs walks every snapshot's trees and returns every blob they use
// (a tree in no index is among them, unread: complete refuses then). A
// tree that is indexed but cannot be read stops prune.
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
		if _, ok := r.Lookup(id); !ok {
			return nil
		}
		t, err := snapshot.LoadTree(ctx, r, id)
		if err != nil {
			return &UnsafeError{Tree: id, Err: err}
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
	data, err := r.ReadPack(ctx, id)
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
