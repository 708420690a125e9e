package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store"
)

// DefaultLockMargin is added to every retain-until date when the config
// names no margin: a week to notice that something is wrong before data
// whose backups expired can be deleted.
const DefaultLockMargin = 7 * 24 * time.Hour

// ErrNoObjectLock: the repository asks for object lock and the store
// cannot lock objects (not S3, or a bucket created without object lock).
var ErrNoObjectLock = errors.New("the store cannot lock objects")

// setObjectLock validates Init's object lock options and records them in
// cfg; with a mode set, the store must be able to lock objects.
func setObjectLock(ctx context.Context, s store.Store, cfg *Config, opts Options) error {
	switch opts.ObjectLock {
	case "":
		return nil
	case store.RetentionCompliance, store.RetentionGovernance:
	default:
		return fmt.Errorf("repo: unknown object lock mode %q (want %s or %s)",
			opts.ObjectLock, store.RetentionCompliance, store.RetentionGovernance)
	}
	if opts.LockMargin < 0 {
		return fmt.Errorf("repo: negative lock margin %v", opts.LockMargin)
	}
	ret, ok := s.(store.Retainer)
	if !ok {
		return fmt.Errorf("%s: %w (object lock needs an S3 bucket created with object lock enabled)", s.Location(), ErrNoObjectLock)
	}
	enabled, err := ret.ObjectLockEnabled(ctx)
	if err != nil {
		return fmt.Errorf("repo: init: %w", err)
	}
	if !enabled {
		return fmt.Errorf("%s: %w: the bucket was created without object lock "+
			"(create a new bucket with object lock enabled; it cannot be added later on most servers)",
			s.Location(), ErrNoObjectLock)
	}
	cfg.ObjectLock = opts.ObjectLock
	if opts.LockMargin > 0 {
		cfg.LockMargin = opts.LockMargin.String()
	}
	return nil
}

// LockMarginDuration is the time added to retain-until dates: the config's
// LockMargin, DefaultLockMargin when it sets none.
func (c Config) LockMarginDuration() time.Duration {
	if d, err := time.ParseDuration(c.LockMargin); err == nil && d >= 0 && c.LockMargin != "" {
		return d
	}
	return DefaultLockMargin
}

// RetentionReport counts what ExtendRetention did.
type RetentionReport struct {
	Objects  int `json:"objects"`  // objects whose retention now reaches the date
	Extended int `json:"extended"` // of which the retention had to be extended
}

// ExtendRetention makes everything a backup needs retained (object lock)
// until at least until: the given packs, every index file that names one
// of them (read from the store only when packs is not empty), the config,
// every key file, and the extra keys (the snapshot's manifest). Retention is only ever extended, never shortened, so calling
// it again, or for an older snapshot, is harmless.
//
// It does nothing for a repository without object lock. See
// docs/design/object-lock.md.
func ExtendRetention(ctx context.Context, r *Repository, until time.Time, packs []blob.ID, extra ...string) (RetentionReport, error) {
	var rep RetentionReport
	if r.cfg.ObjectLock == "" {
		return rep, nil
	}
	ret, ok := r.store.(store.Retainer)
	if !ok {
		return rep, fmt.Errorf("repo: retention: %s: %w", r.store.Location(), ErrNoObjectLock)
	}
	keys, err := r.retainedKeys(ctx, packs)
	if err != nil {
		return rep, err
	}
	keys = append(keys, extra...)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, key := range keys {
		g.Go(func() error {
			before, err := ret.Retention(gctx, key)
			if err != nil {
				return err
			}
			if err := ret.SetRetention(gctx, key, until, r.cfg.ObjectLock); err != nil {
				return err
			}
			mu.Lock()
			rep.Objects++
			if before.Before(until) {
				rep.Extended++
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, fmt.Errorf("repo: retention: %w", err)
	}
	return rep, nil
}

// retainedKeys lists the store keys ExtendRetention locks for packs.
func (r *Repository) retainedKeys(ctx context.Context, packs []blob.ID) ([]string, error) {
	want := make(map[blob.ID]bool, len(packs))
	keys := []string{ConfigKey}
	for _, id := range packs {
		if !want[id] {
			want[id] = true
			keys = append(keys, PackKey(id))
		}
	}
	if err := r.store.List(ctx, KindKey.Prefix(), func(info store.Info) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("repo: retention: list keys: %w", err)
	}
	if len(want) == 0 {
		return keys, nil // no index file to read through
	}
	if _, err := r.EachIndexFile(ctx, func(id string, ps []index.Pack) error {
		for _, p := range ps {
			if want[p.ID] {
				keys = append(keys, KindIndex.Key(id))
				return nil
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("repo: retention: %w", err)
	}
	return keys, nil
}

// PacksOf returns the packs that hold the given blobs, each once; blobs
// not in the index are left out.
func (r *Repository) PacksOf(blobs []blob.ID) []blob.ID {
	seen := map[blob.ID]bool{}
	var packs []blob.ID
	for _, id := range blobs {
		loc, ok := r.idx.Lookup(id)
		if ok && !seen[loc.Pack] {
			seen[loc.Pack] = true
			packs = append(packs, loc.Pack)
		}
	}
	return packs
}
