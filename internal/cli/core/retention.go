package core

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// RetainNew makes the objects the coming backup writes retained from
// their first byte, until the expiry it will have (none: the time it
// starts) plus the repository's margin (nothing without object lock).
func (a *App) RetainNew(ctx context.Context, r *repo.Repository, expires *time.Time) error {
	if err := r.RetainNew(ctx, r.Config().RetainUntil(a.Now(), expires)); err != nil {
		return fmt.Errorf("object lock: %w", err)
	}
	return nil
}

// RetainSnapshot gives what sn needs object lock retention once it is
// saved (snapshot.Retain) and says what it did. See
// docs/design/object-lock.md.
func (a *App) RetainSnapshot(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) error {
	cfg := r.Config()
	if cfg.ObjectLock == "" {
		return nil
	}
	rep, err := snapshot.Retain(ctx, r, sn)
	if err != nil {
		return err
	}
	a.Say("object lock (%s): %d objects retained until %s, %d extended",
		cfg.ObjectLock, rep.Objects, snapshot.RetainUntil(cfg, sn).Format(time.RFC3339), rep.Extended)
	return nil
}
