package replicate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// retention carries object lock from the source to the target: every
// object gets on the target at least the retain-until date it has on the
// source (docs/design/object-lock.md). Dates are only extended.
type retention struct {
	src, dst store.Retainer
	mode     string // retention mode set on the target
	now      time.Time
}

// newRetention returns how retention is carried over, nil when it is not:
// both stores must be able to lock objects. What cannot be carried is
// said in rep.Warnings.
func newRetention(ctx context.Context, from, to store.Store, cfg repo.Config, now time.Time, rep *Report) (*retention, error) {
	srcLock, err := canLock(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("replicate: source: %w", err)
	}
	dstLock, err := canLock(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("replicate: target: %w", err)
	}
	switch {
	case cfg.ObjectLock != "" && !dstLock:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the repository uses object lock (%s) but %s cannot lock objects: "+
			"the replica is not immutable", cfg.ObjectLock, to.Location()))
	case srcLock && !dstLock:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s can lock objects but %s cannot: the replica is not immutable",
			from.Location(), to.Location()))
	case cfg.ObjectLock != "" && !srcLock:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the repository uses object lock (%s) but %s cannot say until when "+
			"objects are retained: copied objects get no retention", cfg.ObjectLock, from.Location()))
	}
	if !srcLock || !dstLock {
		return nil, nil
	}
	mode := cfg.ObjectLock
	if mode == "" {
		// Retention the repository did not ask for (a bucket default):
		// carry it in the mode that can still be lifted.
		mode = store.RetentionGovernance
	}
	return &retention{src: from.(store.Retainer), dst: to.(store.Retainer), mode: mode, now: now}, nil
}

// canLock reports whether s is a store.Retainer whose objects can be locked.
func canLock(ctx context.Context, s store.Store) (bool, error) {
	r, ok := s.(store.Retainer)
	if !ok {
		return false, nil
	}
	return r.ObjectLockEnabled(ctx)
}

// apply extends key's retention on the target to its retention on the
// source, if that is later; it reports whether it extended.
func (r *retention) apply(ctx context.Context, key string) (bool, error) {
	until, err := r.src.Retention(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // deleted on the source meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("replicate: retention of %s: %w", key, err)
	}
	if !until.After(r.now) {
		return false, nil
	}
	cur, err := r.dst.Retention(ctx, key)
	if err != nil {
		return false, fmt.Errorf("replicate: retention of %s on the target: %w", key, err)
	}
	if !cur.Before(until) {
		return false, nil
	}
	if err := r.dst.SetRetention(ctx, key, until, r.mode); err != nil {
		return false, fmt.Errorf("replicate: %w", err)
	}
	return true, nil
}

// prune deletes target objects that the source (listing src, by key) no
// longer has: snapshots first, packs last, so that the target stays
// consistent at every step. An object under retention is left and
// reported.
func (c *copier) prune(ctx context.Context, src map[string]store.Info, dst map[repo.Kind][]store.Info) error {
	var dstRet store.Retainer
	if ok, err := canLock(ctx, c.to); err != nil {
		return fmt.Errorf("replicate: prune: %w", err)
	} else if ok {
		dstRet = c.to.(store.Retainer)
	}
	now := c.opts.Now()
	for _, p := range reversed(kinds) {
		var extra []string
		for _, info := range dst[p] {
			if _, ok := src[info.Key]; !ok {
				extra = append(extra, info.Key)
			}
		}
		sort.Strings(extra)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.opts.Parallel)
		for _, key := range extra {
			g.Go(func() error { return c.pruneOne(gctx, dstRet, now, key) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	sort.Strings(c.rep.Pruned)
	sort.Slice(c.rep.Locked, func(i, j int) bool { return c.rep.Locked[i].Key < c.rep.Locked[j].Key })
	return nil
}

func (c *copier) pruneOne(ctx context.Context, ret store.Retainer, now time.Time, key string) error {
	if ret != nil {
		until, err := ret.Retention(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replicate: prune %s: %w", key, err)
		}
		if until.After(now) {
			c.locked(key, until)
			return nil
		}
	}
	if !c.opts.DryRun {
		err := c.to.Delete(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case errors.Is(err, store.ErrLocked):
			c.locked(key, time.Time{})
			return nil
		case err != nil:
			return fmt.Errorf("replicate: prune %s: %w", key, err)
		}
	}
	c.mu.Lock()
	c.rep.Pruned = append(c.rep.Pruned, key)
	c.mu.Unlock()
	return nil
}

func (c *copier) locked(key string, until time.Time) {
	c.mu.Lock()
	c.rep.Locked = append(c.rep.Locked, Locked{Key: key, Until: until})
	c.mu.Unlock()
}
