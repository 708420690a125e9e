package repo

import (
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store"
)

// AdoptOrphans finds packs that no index file names (left by a backup that
// was killed after uploading them, or one still running), reads their
// headers, and writes an index file for them, so that the next backup
// reuses their blobs instead of uploading them again. A pack whose header
// cannot be read is skipped (check reports it; prune removes it). It
// returns the number of packs adopted.
func (r *Repository) AdoptOrphans(ctx context.Context) (int, error) {
	var orphans []blob.ID
	_, err := r.ListPacks(ctx, func(id blob.ID, _ store.Info) error {
		if !r.idx.HasPack(id) {
			orphans = append(orphans, id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("repo: list packs: %w", err)
	}
	var adopted []index.Pack
	for _, id := range orphans {
		entries, err := r.PackHeader(ctx, id)
		if err != nil {
			continue
		}
		p := index.Pack{ID: id, Entries: entries}
		r.idx.Add(p)
		adopted = append(adopted, p)
	}
	if len(adopted) == 0 {
		return 0, nil
	}
	return len(adopted), r.writeIndex(ctx, adopted)
}

// AdoptOrphansOnce is AdoptOrphans the first time it is called on r, and
// nothing after it succeeded: a process that keeps a repository open for
// many backups (the node agent) lists the packs once per opening, not once
// per backup (a full listing of an S3 bucket's packs for each volume).
// Packs left by a killed process are adopted by the next opening.
func (r *Repository) AdoptOrphansOnce(ctx context.Context) (int, error) {
	if r.orphansAdopted.Load() {
		return 0, nil
	}
	n, err := r.AdoptOrphans(ctx)
	if err == nil {
		r.orphansAdopted.Store(true)
	}
	return n, err
}
