package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/repo/pack"
	"github.com/cairn-backup/cairn/internal/store"
)

// RepairReport says what RepairIndex did.
type RepairReport struct {
	Packs int `json:"packs"` // packs indexed
	Blobs int `json:"blobs"`
	// DamagedPacks are the packs whose header cannot be read, with why;
	// their entries are kept from a readable index file when one had them.
	DamagedPacks []string `json:"damaged_packs,omitempty"`
	KeptFromOld  int      `json:"damaged_packs_kept_from_old_index,omitempty"`
	Written      []string `json:"index_files_written"`
	Superseded   int      `json:"index_files_superseded"`
	Deleted      int      `json:"index_files_deleted"`
	// Locked are superseded index files the store refused to delete
	// (object lock): they stay, and readers ignore them.
	Locked []string `json:"locked,omitempty"`
}

// RepairIndex rebuilds the index from the packs: it reads the header of
// every pack in the store and writes new index files naming them all, which
// supersede every index file there was (repository-format.md §7); then it
// deletes the old index files where the store allows. Nothing else in the
// store is written or changed. A pack whose header cannot be read is
// reported; the entries a readable old index file had for it are kept.
// The caller holds the exclusive lock.
func (r *Repository) RepairIndex(ctx context.Context) (*RepairReport, error) {
	rep := &RepairReport{}
	old := map[blob.ID][]pack.Entry{}
	if _, err := r.ReloadIndexFiles(ctx, func(_ string, ps []index.Pack) {
		for _, p := range ps {
			if _, ok := old[p.ID]; !ok {
				old[p.ID] = p.Entries
			}
		}
	}); err != nil {
		return nil, fmt.Errorf("repo: repair: %w", err)
	}
	// Listed before anything is written: the new files supersede these.
	oldFiles, err := r.listIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("repo: repair: %w", err)
	}
	var ids []blob.ID
	if _, err := r.ListPacks(ctx, func(id blob.ID, _ store.Info) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("repo: repair: list packs: %w", err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })

	packs := make([]index.Pack, len(ids))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			entries, err := r.PackHeader(gctx, id)
			if err == nil {
				packs[i] = index.Pack{ID: id, Entries: entries}
				return nil
			}
			if !IsBad(err) && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("repo: repair: %w", err)
			}
			mu.Lock()
			defer mu.Unlock()
			rep.DamagedPacks = append(rep.DamagedPacks, fmt.Sprintf("%s: %v", PackKey(id), err))
			if es, ok := old[id]; ok {
				packs[i] = index.Pack{ID: id, Entries: es}
				rep.KeptFromOld++
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Strings(rep.DamagedPacks)
	var keep []index.Pack
	blobs := map[blob.ID]bool{}
	for _, p := range packs {
		if len(p.Entries) == 0 {
			continue
		}
		keep = append(keep, p)
		for _, e := range p.Entries {
			blobs[e.ID] = true
		}
	}
	rep.Packs, rep.Blobs = len(keep), len(blobs)

	rr, err := r.replaceIndex(ctx, oldFiles, keep)
	if rr != nil {
		rep.Written, rep.Superseded, rep.Deleted, rep.Locked = rr.Written, rr.Superseded, rr.Deleted, rr.Locked
	}
	if err != nil {
		return rep, fmt.Errorf("repo: repair: %w", err)
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return rep, fmt.Errorf("repo: repair: %w", err)
	}
	return rep, nil
}

// IndexReplacement says what ReplaceIndex did.
type IndexReplacement struct {
	Written    []string // new index files
	Superseded int      // old index files the new ones supersede
	Deleted    int      // of them, deleted
	Locked     []string // of them, kept by the store (retention), by key
}

// ReplaceIndex makes packs the repository's complete index: it writes them
// as new index files that supersede every index file in the store now
// (repository-format.md §7), then deletes the old files where the store
// allows. The caller holds the exclusive lock and reloads the index after.
func (r *Repository) ReplaceIndex(ctx context.Context, packs []index.Pack) (*IndexReplacement, error) {
	old, err := r.listIndex(ctx)
	if err != nil {
		return nil, err
	}
	return r.replaceIndex(ctx, old, packs)
}

func (r *Repository) replaceIndex(ctx context.Context, old []string, packs []index.Pack) (*IndexReplacement, error) {
	supersedes, err := r.supersedesAll(ctx, old)
	if err != nil {
		return nil, err
	}
	rep := &IndexReplacement{Superseded: len(old)}
	if rep.Written, err = r.WriteIndexFiles(ctx, packs, supersedes); err != nil {
		return rep, err
	}
	rep.Deleted, rep.Locked, err = r.DeleteIndexFiles(ctx, old)
	return rep, err
}

// supersedesAll is what a complete new index must supersede: every index
// file there is (given), and the snapshot files that the index files read
// last superseded and that are still there (undeletable ones).
func (r *Repository) supersedesAll(ctx context.Context, indexFiles []string) ([]string, error) {
	keys := make([]string, 0, len(indexFiles))
	for _, id := range indexFiles {
		keys = append(keys, KindIndex.Key(id))
	}
	voided := map[string]bool{}
	for _, k := range r.SupersededKeys() {
		if kind, _ := KindOf(k); kind == KindSnapshot {
			voided[k] = true
		}
	}
	if len(voided) == 0 {
		return keys, nil
	}
	err := r.List(ctx, KindSnapshot, func(id string, _ int64) error {
		if k := KindSnapshot.Key(id); voided[k] {
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}

// maxEntriesPerIndex bounds the size of one index file.
const maxEntriesPerIndex = 100000

// WriteIndexFiles writes packs as new index files of at most 100,000
// entries each, every one listing supersedes (at least one file is written
// when supersedes is not empty). It returns the new files' IDs. A caller
// that supersedes index files holds the exclusive lock and writes a
// complete index.
func (r *Repository) WriteIndexFiles(ctx context.Context, packs []index.Pack, supersedes []string) ([]string, error) {
	var written []string
	var batch []index.Pack
	n := 0
	flush := func() error {
		id, err := r.SaveUnpacked(ctx, KindIndex, index.EncodeFile(index.File{Packs: batch, Supersedes: supersedes}))
		if err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		r.mu.Lock()
		r.indexFiles[id] = struct{}{}
		r.mu.Unlock()
		written = append(written, id)
		batch, n = nil, 0
		return nil
	}
	for _, p := range packs {
		batch = append(batch, p)
		n += len(p.Entries)
		if n >= maxEntriesPerIndex {
			if err := flush(); err != nil {
				return written, err
			}
		}
	}
	if len(batch) > 0 || (len(written) == 0 && len(supersedes) > 0) {
		if err := flush(); err != nil {
			return written, err
		}
	}
	return written, nil
}

// DeleteIndexFiles deletes index files that new ones supersede. Files the
// store refuses to delete because of retention are returned in locked (by
// key): they stay, superseded. Files already gone are skipped.
func (r *Repository) DeleteIndexFiles(ctx context.Context, ids []string) (deleted int, locked []string, err error) {
	for _, id := range ids {
		err := r.DeleteUnpacked(ctx, KindIndex, id)
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, store.ErrLocked):
			locked = append(locked, KindIndex.Key(id))
		case errors.Is(err, store.ErrNotFound):
		default:
			return deleted, locked, err
		}
	}
	sort.Strings(locked)
	return deleted, locked, nil
}
