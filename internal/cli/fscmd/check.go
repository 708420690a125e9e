package fscmd

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
)

func (a *app) checkCommand() *cobra.Command {
	var readData bool
	var subset string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the repository's structure (and all data with --read-data)",
		Long: `Check that every index, snapshot and tree loads and that every blob a
snapshot needs is indexed and stored. With --read-data, also read every pack
and verify every blob; with --read-data-subset n/t, only share n of t of the
packs (split by pack ID: checks of 1/t, 2/t, …, t/t read every pack once
between them, as the controller's scheduled checks do). Problems are listed
with the files they affect, and the exit code is 1.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			opts := check.Options{ReadData: readData}
			if subset != "" {
				if readData {
					return core.Usage(fmt.Errorf("--read-data reads every pack, --read-data-subset %s a share of them: give one", subset))
				}
				var err error
				if opts.Subset, err = check.ParseSubset(subset); err != nil {
					return core.Usage(fmt.Errorf("--read-data-subset: %w", err))
				}
			}
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				return r.WithLock(ctx, repo.Shared, "check", func(ctx context.Context) error { return a.check(ctx, r, opts) })
			})
		}),
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and verify all data (slow: reads the whole repository)")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "read and verify share `n/t` of the packs (e.g. 3/30)")
	return cmd
}

func (a *app) check(ctx context.Context, r *repo.Repository, opts check.Options) error {
	var done, total atomic.Int64
	readData := opts.ReadData || opts.Subset.Of > 0
	if readData {
		opts.Progress = func(d, t int) { done.Store(int64(d)); total.Store(int64(t)) }
	}
	stop := func() {}
	if readData {
		stop = a.StartProgress("check", func() core.Sample {
			return core.Sample{Done: done.Load(), Total: total.Load(), Unit: "packs"}
		})
	}
	rep, err := check.Run(ctx, r, opts)
	stop()
	if rep == nil {
		return fmt.Errorf("check: %w", err)
	}
	if a.Machine() {
		if eerr := a.Emit(rep); eerr != nil {
			return eerr
		}
	} else if !a.Quiet {
		w := a.Table()
		core.Fields(w, rep)
		if ferr := w.Flush(); ferr != nil {
			return ferr
		}
		if err == nil {
			a.Say("no problems found")
		}
	}
	a.checkAdvice(rep)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return nil
}

// checkAdvice names, on stderr, the command that mends what check found.
func (a *app) checkAdvice(rep *check.Report) {
	var badIndex, badSnapshots bool
	for _, u := range rep.Unreadable {
		switch kind, _ := repo.KindOf(u.Key); kind {
		case repo.KindIndex:
			badIndex = true
		case repo.KindSnapshot:
			badSnapshots = true
		}
	}
	unindexed := false
	for _, e := range rep.Errors {
		if strings.Contains(e, "is not in the index") {
			unindexed = true
			break
		}
	}
	if badIndex || (unindexed && rep.OrphanPacks > 0) {
		a.Warn("`cairn repo repair index` rebuilds the index from the headers of every pack in the store")
	}
	if badSnapshots {
		a.Warn("`cairn repo repair snapshots` removes the snapshot files that cannot be read")
	}
	if len(rep.Shadowed) > 0 {
		a.Warn("overwritten objects are read from their older versions; find who can write to the bucket")
	}
}
