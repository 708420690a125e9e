package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/stats"
)

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show what the repository holds and what deduplication and compression saved",
		Args:  args(0, 0, "no arguments"),
		RunE: a.runE(func(ctx context.Context, _ []string) error {
			return a.withRepo(ctx, func(r *repo.Repository) error {
				st, err := stats.Collect(ctx, r)
				if err != nil {
					return fmt.Errorf("stats: %w", err)
				}
				if a.machine() {
					return a.emit(st)
				}
				w := a.table()
				fields(w, st)
				return w.Flush()
			})
		}),
	}
}
