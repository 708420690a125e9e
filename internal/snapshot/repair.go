package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// RepairReport says what Repair did.
type RepairReport struct {
	Unreadable []string `json:"unreadable"` // snapshot files that cannot be read, by key
	Deleted    int      `json:"deleted"`
	// Superseded are unreadable files the store refused to delete
	// (retention): a new index file supersedes them, so readers ignore them.
	Superseded []string `json:"superseded,omitempty"`
}

// Repair removes the snapshot files that cannot be read (their bytes do
// not match their name or fail authentication, also in every older version
// a versioned store keeps): they hold nothing that can be restored, and
// while they are there prune refuses to run. A file the store refuses to
// delete is superseded instead: a new index file, with no packs, lists it
// (repository-format.md §7). The caller holds the exclusive lock.
func Repair(ctx context.Context, r *repo.Repository) (*RepairReport, error) {
	if _, err := List(ctx, r); err != nil {
		return nil, err
	}
	rep := &RepairReport{Unreadable: []string{}}
	var voided []string
	for _, b := range r.BadObjects() {
		if kind, _ := repo.KindOf(b.Key); kind != repo.KindSnapshot {
			continue
		}
		rep.Unreadable = append(rep.Unreadable, b.Key)
		err := r.DeleteUnpacked(ctx, repo.KindSnapshot, strings.TrimPrefix(b.Key, repo.KindSnapshot.Prefix()))
		switch {
		case err == nil:
			rep.Deleted++
		case errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrLocked):
			voided = append(voided, b.Key)
		default:
			return rep, fmt.Errorf("snapshot: repair: %w", err)
		}
	}
	if len(voided) > 0 {
		sort.Strings(voided)
		if _, err := r.WriteIndexFiles(ctx, nil, voided); err != nil {
			return rep, fmt.Errorf("snapshot: repair: %w", err)
		}
		rep.Superseded = voided
		if err := r.ReloadIndex(ctx); err != nil {
			return rep, fmt.Errorf("snapshot: repair: %w", err)
		}
	}
	if _, err := List(ctx, r); err != nil {
		return rep, err
	}
	return rep, nil
}
