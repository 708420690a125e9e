package fscmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
)

func (a *app) pruneCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove data that no snapshot uses any more",
		Long: `Delete packs no snapshot needs, rewrite packs that are mostly unused, and
remove packs left by interrupted backups. Takes the exclusive lock: no backup
or restore can run meanwhile. Run it after forget (or use forget --prune).`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				rep, err := a.prune(ctx, r, dryRun)
				if err != nil {
					return err
				}
				return a.showPrune(rep)
			})
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would be removed")
	return cmd
}

// prune plans a prune under the exclusive lock and, unless dryRun, carries
// the plan out under the same lock.
func (a *app) prune(ctx context.Context, r *repo.Repository, dryRun bool) (*prune.Report, error) {
	var rep *prune.Report
	err := r.WithLock(ctx, repo.Exclusive, "prune", func(ctx context.Context) error {
		plan, err := prune.NewPlan(ctx, r, prune.Options{Now: a.Now})
		if err != nil {
			return err
		}
		if dryRun {
			rep = &plan.Report // a dry run shows the plan
			return nil
		}
		rep, err = prune.Execute(ctx, r, plan)
		return err
	})
	if errors.Is(err, prune.ErrUnsafe) {
		return nil, err // it says "prune: refusing …" already
	}
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return rep, nil
}

func (a *app) showPrune(rep *prune.Report) error {
	if a.Machine() {
		return a.Emit(rep)
	}
	if a.Quiet {
		return nil
	}
	w := a.Table()
	core.Fields(w, rep)
	return w.Flush()
}
