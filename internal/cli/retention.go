package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// retainSnapshot gives what sn needs object lock retention (nothing for a
// repository without object lock): its manifest, every pack holding one of
// its trees or file chunks (new or reused), the index files naming those
// packs, the config and the key files, all until the snapshot's expiry
// (or its time, without one) plus the repository's margin. See
// docs/design/object-lock.md.
func (a *app) retainSnapshot(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) error {
	cfg := r.Config()
	if cfg.ObjectLock == "" {
		return nil
	}
	until := retainUntil(cfg, sn)
	blobs := []blob.ID{sn.Tree}
	err := snapshot.Walk(ctx, r, sn.Tree, func(_ string, n *snapshot.Node) error {
		blobs = append(blobs, n.Content...)
		if n.Subtree != nil {
			blobs = append(blobs, *n.Subtree)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("object lock: snapshot %s: %w", sn.ShortID(), err)
	}
	rep, err := repo.ExtendRetention(ctx, r, until, r.PacksOf(blobs), repo.KindSnapshot+"/"+sn.ID)
	if err != nil {
		return fmt.Errorf("object lock: snapshot %s: %w", sn.ShortID(), err)
	}
	a.say("object lock (%s): %d objects retained until %s, %d extended",
		cfg.ObjectLock, rep.Objects, until.Format(time.RFC3339), rep.Extended)
	return nil
}

// retainUntil is the date sn's objects are kept until at least.
func retainUntil(cfg repo.Config, sn *snapshot.Snapshot) time.Time {
	base := sn.Time
	if sn.Expires != nil && sn.Expires.After(base) {
		base = *sn.Expires
	}
	return base.Add(cfg.LockMarginDuration()).UTC()
}
