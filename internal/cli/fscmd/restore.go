package fscmd

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// restoreOptions are the flags of `fs restore`.
type restoreOptions struct {
	target   string
	includes []string
	verify   bool
}

func (a *app) restoreCommand() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT --target DIR",
		Short: "Restore a snapshot into a directory",
		Long: `Restore a snapshot (an ID, a unique ID prefix, or "latest") into --target.
Files of the snapshot replace files of the same name in the target; every
other file in the target is left as it was. Exit code 3 means some entries
could not be restored; they are listed.`,
		Args: core.Args(1, 1, "the snapshot (ID, unique prefix or latest)"),
		RunE: a.RunE(func(ctx context.Context, args []string) error { return a.restore(ctx, args[0], o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "directory to restore into (created if missing)")
	f.StringArrayVar(&o.includes, "include", nil, "restore only this path of the snapshot (repeatable)")
	f.BoolVar(&o.verify, "verify", false, "re-read every restored file and check it against the snapshot")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

// restoreResult is the output of `fs restore`.
type restoreResult struct {
	Snapshot string           `json:"snapshot"`
	Target   string           `json:"target"`
	Duration string           `json:"duration"`
	Result   *restorer.Result `json:"result"`
}

func (a *app) restore(ctx context.Context, ref string, o restoreOptions) error {
	if err := core.CheckDirPath("--target", o.target); err != nil {
		return err
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		return r.WithLock(ctx, repo.Shared, "restore", func(ctx context.Context) error {
			sn, err := findSnapshot(ctx, r, ref)
			if err != nil {
				return err
			}
			target, err := filepath.Abs(o.target)
			if err != nil {
				return core.BadInput("--target %s: %v", o.target, err)
			}
			var includes []string
			for _, p := range o.includes {
				rel := snapshotPath(sn, p)
				if rel == "" { // the whole snapshot
					includes = nil
					break
				}
				if ok, err := core.InSnapshot(ctx, r, sn, rel); err != nil {
					return fmt.Errorf("--include %s: %w", p, err)
				} else if !ok {
					return core.BadInput("--include %s: no %q in snapshot %s (see `cairn ls %s`)", p, rel, sn.ShortID(), sn.ShortID())
				}
				includes = append(includes, rel)
			}
			return a.runRestore(ctx, r, sn, restorer.Options{Target: target, Include: includes, Verify: o.verify, Progress: &restorer.Progress{}})
		})
	})
}

func (a *app) runRestore(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, opts restorer.Options) error {
	var total, files int64
	if s := sn.Summary; s != nil && len(opts.Include) == 0 {
		total, files = s.TotalBytes, s.FilesNew+s.FilesChanged+s.FilesUnchanged
	}
	p := opts.Progress
	stop := a.StartProgress("restore", func() core.Sample {
		return core.Sample{Done: p.Bytes.Load(), Total: total, Files: p.Files.Load(), TotalFiles: files}
	})
	start := a.Now()
	res, err := restorer.Run(ctx, r, sn, opts)
	stop()
	if res == nil {
		return fmt.Errorf("restore %s: %w", sn.ShortID(), err)
	}
	out := restoreResult{Snapshot: sn.ID, Target: opts.Target, Duration: a.Now().Sub(start).String(), Result: res}
	if a.Machine() {
		if eerr := a.Emit(out); eerr != nil {
			return eerr
		}
	} else {
		a.showRestore(sn, opts.Target, res, a.Now().Sub(start))
	}
	if err != nil {
		for _, e := range res.Errors {
			a.Warn("%s", e)
		}
		return fmt.Errorf("restore %s: %w", sn.ShortID(), err)
	}
	return nil
}

func (a *app) showRestore(sn *snapshot.Snapshot, target string, res *restorer.Result, took time.Duration) {
	a.Say("restored snapshot %s to %s", sn.ShortID(), target)
	a.Say("files:    %d (%s), %d dirs, %d hard links, %d others", res.Files, core.HumanBytes(res.Bytes), res.Dirs, res.Links, res.Others)
	if res.Verified > 0 {
		a.Say("verified: %d files", res.Verified)
	}
	if len(res.Skipped) > 0 {
		a.Say("skipped:  %d entries that cannot be restored (sockets)", len(res.Skipped))
	}
	if len(res.Errors) > 0 {
		a.Say("errors:   %d entries failed", len(res.Errors))
	}
	a.Say("duration: %s", core.HumanDuration(took))
}
