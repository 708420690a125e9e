package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// RetainUntil is the date a snapshot taken at taken and expiring at
// expires (nil: never) has its objects retained until: the later of the
// two, plus the lock margin. This is the one place that computes it (see
// docs/design/object-lock.md, "What gets which date").
func (c Config) RetainUntil(taken time.Time, expires *time.Time) time.Time {
	base := taken
	if expires != nil && expires.After(base) {
		base = *expires
	}
	return base.Add(c.LockMarginDuration()).UTC()
}

// RetainNew makes every pack, index file and snapshot file this
// Repository writes from now on retained until at least until, set in
// the PUT that creates it (store.RetainedPutter): no such object of the
// repository exists unlocked at any instant. Before it returns, it
// extends the config and every key file to until as well, so that what
// decrypts the new objects is locked before they exist.
//
// A backup calls it before it saves its first blob, with
// Config.RetainUntil of the time it starts and the expiry it will give
// its snapshot. The date is rounded up to the second (S3's precision), so
// the snapshot's own date, computed a moment later, is nearly always the
// same and snapshot.Retain after the save finds the new objects retained
// long enough (HEADs only); when it is a second later, Retain extends
// them, as it extends the reused packs. Calling RetainNew again moves the
// date for the objects written after.
//
// It does nothing for a repository without object lock. With object lock
// and a store that cannot lock objects in the PUT, it fails with
// ErrNoObjectLock and nothing is written unlocked: the later puts of new
// objects fail the same way.
func (r *Repository) RetainNew(ctx context.Context, until time.Time) error {
	if r.cfg.ObjectLock == "" {
		return nil
	}
	if _, ok := r.retainer(); !ok {
		return fmt.Errorf("repo: retain new objects: %s: %w", r.store.Location(), ErrNoObjectLock)
	}
	if t := until.UTC().Truncate(time.Second); t.Before(until) {
		until = t.Add(time.Second)
	}
	if _, err := ExtendRetention(ctx, r, until, nil); err != nil {
		return err
	}
	r.retainUntil.Store(&until)
	return nil
}

// retainer returns the store's object lock capabilities, when it has both.
func (r *Repository) retainer() (interface {
	store.Retainer
	store.RetainedPutter
}, bool) {
	type both interface {
		store.Retainer
		store.RetainedPutter
	}
	b, ok := r.store.(both)
	return b, ok
}

// newObjectRetention is the date a new pack, index file or snapshot file
// is written with: RetainNew's, else now plus the margin (a snapshot
// without expiry, taken now). Zero without object lock.
func (r *Repository) newObjectRetention() time.Time {
	if r.cfg.ObjectLock == "" {
		return time.Time{}
	}
	if p := r.retainUntil.Load(); p != nil {
		return *p
	}
	return r.cfg.RetainUntil(r.now(), nil)
}

// putNew stores a new pack, index or snapshot file: with object lock,
// retained from its first byte (PutRetained), and an object already there
// (ErrExists) extended to the same date, as a reused one would be; without,
// a plain Put.
func (r *Repository) putNew(ctx context.Context, key string, data []byte) error {
	until := r.newObjectRetention()
	if until.IsZero() {
		return r.store.Put(ctx, key, data)
	}
	s, ok := r.retainer()
	if !ok {
		return fmt.Errorf("%s: %s: %w (the repository's config asks for object lock)", r.store.Location(), key, ErrNoObjectLock)
	}
	err := s.PutRetained(ctx, key, data, until, r.cfg.ObjectLock)
	if errors.Is(err, store.ErrExists) {
		if serr := s.SetRetention(ctx, key, until, r.cfg.ObjectLock); serr != nil {
			return serr
		}
	}
	return err
}
