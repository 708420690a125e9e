package fscmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) repairCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Rebuild the index from the packs, or remove unreadable snapshot files",
		Long: `Mend what ` + "`cairn repo check`" + ` reports. Both subcommands take the exclusive
lock; neither changes an object in the store (they write new ones and delete
old ones where the store allows).`,
	}
	a.Group(cmd)
	cmd.AddCommand(a.repairIndexCommand(), a.repairSnapshotsCommand())
	return cmd
}

func (a *app) repairIndexCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the headers of every pack",
		Long: `Read the header of every pack in the store and write a new index naming
them all. The new index files supersede every old one: old index files are
deleted, and those the store refuses to delete (object lock) are ignored by
every reader from then on. Packs whose header cannot be read are listed; what
an old index file said about them is kept.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				var rep *repo.RepairReport
				err := r.WithLock(ctx, repo.Exclusive, "repair", func(ctx context.Context) error {
					var err error
					rep, err = r.RepairIndex(ctx)
					return err
				})
				if err != nil {
					return fmt.Errorf("repair index: %w", err)
				}
				return a.showRepair(rep, len(rep.DamagedPacks) == 0)
			})
		}),
	}
}

func (a *app) repairSnapshotsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "snapshots",
		Short: "Remove snapshot files that cannot be read",
		Long: `Delete the snapshot files whose bytes do not match their name or fail
authentication (in every version the store keeps): they hold nothing that can
be restored, and prune refuses to run while they are there. A file the store
refuses to delete (object lock) is superseded by a new index file instead, and
ignored by every reader from then on.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				var rep *snapshot.RepairReport
				err := r.WithLock(ctx, repo.Exclusive, "repair", func(ctx context.Context) error {
					var err error
					rep, err = snapshot.Repair(ctx, r)
					return err
				})
				if err != nil {
					return fmt.Errorf("repair snapshots: %w", err)
				}
				return a.showRepair(rep, true)
			})
		}),
	}
}

func (a *app) showRepair(rep any, clean bool) error {
	if a.Machine() {
		return a.Emit(rep)
	}
	if a.Quiet {
		return nil
	}
	w := a.Table()
	core.Fields(w, rep)
	if err := w.Flush(); err != nil {
		return err
	}
	if !clean {
		a.Warn("some packs could not be read: run `cairn repo check --read-data` for the files they affect")
	}
	return nil
}
