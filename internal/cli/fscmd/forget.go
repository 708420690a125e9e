package fscmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// forgetOptions are the flags of `forget`.
type forgetOptions struct {
	keepWithin string
	dryRun     bool
	prune      bool
}

func (a *app) forgetCommand() *cobra.Command {
	var o forgetOptions
	cmd := &cobra.Command{
		Use:   "forget [ID...]",
		Short: "Remove snapshots: those named and those the retention policy selects",
		Long: `Remove the named snapshots (IDs or unique prefixes) and those the policy
selects. A snapshot whose own expiry (backup --ttl) has passed is always
selected; one whose expiry lies ahead is kept by the policy. With
--keep-within, snapshots older than that are selected too.

Forget removes only the snapshot manifests; the data they alone used stays
until prune (--prune runs it right after, under the exclusive lock).`,
		Args: core.Args(0, -1, "snapshot IDs"),
		RunE: a.RunE(func(ctx context.Context, ids []string) error { return a.forget(ctx, ids, o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.keepWithin, "keep-within", "", "keep snapshots taken within this long (e.g. 30d, 720h); forget older ones")
	f.BoolVar(&o.dryRun, "dry-run", false, "only show what would be removed")
	f.BoolVar(&o.prune, "prune", false, "run prune afterwards to free the space")
	return cmd
}

// forgetEntry is a snapshot in forget's output, with why it is removed.
type forgetEntry struct {
	snapshotView
	Reason string `json:"reason,omitempty"`
}

// forgetResult is the output of `forget`.
type forgetResult struct {
	Removed []forgetEntry `json:"removed"`
	Kept    []forgetEntry `json:"kept"`
	DryRun  bool          `json:"dry_run"`
	Prune   *prune.Report `json:"prune,omitempty"`
}

func (a *app) forget(ctx context.Context, ids []string, o forgetOptions) error {
	var keepWithin time.Duration
	if o.keepWithin != "" {
		var err error
		if keepWithin, err = core.ParseDuration("--keep-within", o.keepWithin); err != nil {
			return err
		}
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		res := forgetResult{Removed: []forgetEntry{}, Kept: []forgetEntry{}, DryRun: o.dryRun}
		err := r.WithLock(ctx, repo.Shared, "forget", func(ctx context.Context) error {
			remove, err := a.selectForget(ctx, r, ids, keepWithin, &res)
			if err != nil || o.dryRun {
				return err
			}
			if err := snapshot.Forget(ctx, r, remove); err != nil {
				return fmt.Errorf("forget: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if o.prune && !o.dryRun {
			if res.Prune, err = a.prune(ctx, r, false); err != nil {
				return err
			}
		}
		return a.showForget(res)
	})
}

// selectForget resolves the named snapshots and applies the policy; it
// fills res and returns the snapshots to remove.
func (a *app) selectForget(ctx context.Context, r *repo.Repository, ids []string, keepWithin time.Duration, res *forgetResult) ([]*snapshot.Snapshot, error) {
	named := map[string]bool{}
	for _, id := range ids {
		sn, err := findSnapshot(ctx, r, id)
		if err != nil {
			return nil, err
		}
		named[sn.ID] = true
	}
	all, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("forget: %w", err)
	}
	policy := snapshot.ForgetPolicy{KeepWithin: keepWithin, Now: a.Now()}
	var remove []*snapshot.Snapshot
	for _, sn := range all {
		e := forgetEntry{snapshotView: viewSnapshot(sn)}
		switch rule := policy.Rule(sn); {
		case named[sn.ID]:
			e.Reason = "named"
		case rule == snapshot.ForgetExpired:
			e.Reason = "expired"
		case rule == snapshot.ForgetOlder:
			e.Reason = "older than " + keepWithin.String()
		default:
			res.Kept = append(res.Kept, e)
			continue
		}
		res.Removed = append(res.Removed, e)
		remove = append(remove, sn)
	}
	return remove, nil
}

func (a *app) showForget(res forgetResult) error {
	if a.Machine() {
		return a.Emit(res)
	}
	if a.Quiet {
		return nil
	}
	w := a.Table()
	core.Row(w, "ACTION", "ID", "TIME", "HOST", "PATHS", "REASON")
	verb := "remove"
	if res.DryRun {
		verb = "would remove"
	}
	for _, e := range res.Removed {
		core.Row(w, verb, e.ShortID, core.HumanTime(e.Time), e.Host, strings.Join(e.Paths, ","), e.Reason)
	}
	for _, e := range res.Kept {
		core.Row(w, "keep", e.ShortID, core.HumanTime(e.Time), e.Host, strings.Join(e.Paths, ","), "")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	switch {
	case res.DryRun:
		a.Say("dry run: would remove %d snapshot(s), keep %d", len(res.Removed), len(res.Kept))
	default:
		a.Say("removed %d snapshot(s), kept %d", len(res.Removed), len(res.Kept))
	}
	if res.Prune != nil {
		a.Say("prune:")
		return a.showPrune(res.Prune)
	}
	if len(res.Removed) > 0 && !res.DryRun {
		a.Say("run `cairn repo prune` to free the space they used")
	}
	return nil
}
