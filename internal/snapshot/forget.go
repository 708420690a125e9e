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

// ForgetRule names the rule of a ForgetPolicy that decides one snapshot:
// which keeps it, or which forgets it.
type ForgetRule int

const (
	// KeepRecent: no rule forgets it (taken within KeepWithin, or the
	// policy has no KeepWithin).
	KeepRecent ForgetRule = iota
	// KeepUnexpired: its own expiry lies ahead; it is kept whatever its
	// age, since it was promised that long (and may be locked that long
	// in the store).
	KeepUnexpired
	// ForgetExpired: its own expiry (Expires) has passed.
	ForgetExpired
	// ForgetOlder: taken more than KeepWithin before Now.
	ForgetOlder
)

// Forgets reports whether the rule forgets the snapshot.
func (r ForgetRule) Forgets() bool { return r == ForgetExpired || r == ForgetOlder }

// Rule returns the rule that decides s: the first that applies of its
// own expiry passed (forget), its expiry ahead (keep), taken before
// KeepWithin (forget); else it is kept.
func (p ForgetPolicy) Rule(s *Snapshot) ForgetRule {
	switch {
	case s.Expired(p.Now):
		return ForgetExpired
	case s.Expires != nil:
		return KeepUnexpired
	case p.KeepWithin > 0 && s.Time.Before(p.Now.Add(-p.KeepWithin)):
		return ForgetOlder
	}
	return KeepRecent
}

// SelectForget splits snaps into those the policy forgets and those it
// keeps (Rule says why).
func SelectForget(snaps []*Snapshot, p ForgetPolicy) (remove, keep []*Snapshot) {
	for _, s := range snaps {
		if p.Rule(s).Forgets() {
			remove = append(remove, s)
		} else {
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
