package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// ForgetPolicy selects snapshots to forget by time.
type ForgetPolicy struct {
	// KeepWithin keeps snapshots taken within this long before Now; older
	// ones are forgotten unless their own expiry is still in the future.
	// Zero: the policy forgets only expired snapshots.
	KeepWithin time.Duration
	Now        time.Time
}

// SelectForget splits snaps into those the policy forgets and those it
// keeps. A snapshot whose own expiry (Expires) has passed is always
// forgotten; one whose expiry lies ahead is always kept, since it was
// promised that long (and may be locked that long in the store).
func SelectForget(snaps []*Snapshot, p ForgetPolicy) (remove, keep []*Snapshot) {
	for _, s := range snaps {
		switch {
		case s.Expired(p.Now):
			remove = append(remove, s)
		case s.Expires != nil:
			keep = append(keep, s)
		case p.KeepWithin > 0 && s.Time.Before(p.Now.Add(-p.KeepWithin)):
			remove = append(remove, s)
		default:
			keep = append(keep, s)
		}
	}
	return remove, keep
}

// Forget deletes the manifests of snaps. Their data stays until prune.
// A manifest still under retention (object lock) is left in place and
// reported in the returned error, wrapping store.ErrLocked, after the
// others have been forgotten.
func Forget(ctx context.Context, r *repo.Repository, snaps []*Snapshot) error {
	var locked []error
	for _, s := range snaps {
		err := r.DeleteUnpacked(ctx, repo.KindSnapshot, s.ID)
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrLocked):
			locked = append(locked, fmt.Errorf("snapshot %s: %w", s.ShortID(), err))
		default:
			return fmt.Errorf("forget %s: %w", s.ShortID(), err)
		}
	}
	if len(locked) > 0 {
		return fmt.Errorf("forget: %d snapshots still under retention were kept: %w", len(locked), errors.Join(locked...))
	}
	return nil
}
