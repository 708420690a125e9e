package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// Retain gives what sn needs its object lock retention, after sn was saved
// (nothing for a repository without object lock): its snapshot file, every
// pack holding one of its trees or file chunks — the new ones, written
// retained already (repo.RetainNew), and the reused ones, whose locks are
// extended (never shortened) —, the index files naming those packs, the
// config and the key files, all until repo.Config.RetainUntil of the
// snapshot's time and expiry. See docs/design/object-lock.md.
func Retain(ctx context.Context, r *repo.Repository, sn *Snapshot) (repo.RetentionReport, error) {
	cfg := r.Config()
	if cfg.ObjectLock == "" {
		return repo.RetentionReport{}, nil
	}
	blobs := []blob.ID{sn.Tree}
	err := Walk(ctx, r, sn.Tree, func(_ string, n *Node) error {
		blobs = append(blobs, n.Content...)
		if n.Subtree != nil {
			blobs = append(blobs, *n.Subtree)
		}
		return nil
	})
	if err != nil {
		return repo.RetentionReport{}, fmt.Errorf("object lock: snapshot %s: %w", sn.ShortID(), err)
	}
	rep, err := repo.ExtendRetention(ctx, r, RetainUntil(cfg, sn), r.PacksOf(blobs), repo.KindSnapshot.Key(sn.ID))
	if err != nil {
		return rep, fmt.Errorf("object lock: snapshot %s: %w", sn.ShortID(), err)
	}
	return rep, nil
}

// RetainUntil is the date sn's objects are kept until at least.
func RetainUntil(cfg repo.Config, sn *Snapshot) time.Time {
	return cfg.RetainUntil(sn.Time, sn.Expires)
}
