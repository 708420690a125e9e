package fscmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) fsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "fs", Short: "Back up and restore directories"}
	a.Group(cmd)
	cmd.AddCommand(a.backupCommand(), a.restoreCommand())
	return cmd
}

// backupOptions are the flags of `fs backup`.
type backupOptions struct {
	tags, excludes []string
	host, parent   string
	ttl            string
}

func (a *app) backupCommand() *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup PATH...",
		Short: "Back up files and directories into a snapshot",
		Long: `Back up the given paths into a new snapshot. The backup is incremental: files
unchanged since the parent snapshot (by default the newest one of the same
host and the same set of paths) are not read again, and only new data is
stored. Exit code 3 means the snapshot was saved but some entries could not
be read; they are listed.`,
		Args: core.Args(1, -1, "one or more paths to back up"),
		RunE: a.RunE(func(ctx context.Context, paths []string) error { return a.backup(ctx, paths, o) }),
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.tags, "tag", nil, "tag the snapshot (repeatable)")
	f.StringArrayVar(&o.excludes, "exclude", nil, "skip entries matching a glob: on the base name, or the full path when it has a '/' (repeatable)")
	f.StringVar(&o.host, "host", "", "host name recorded in the snapshot (default: this host)")
	f.StringVar(&o.parent, "parent", "", "snapshot to compare with (default: newest of this host and paths)")
	f.StringVar(&o.ttl, "ttl", "", "keep the snapshot at least this long, then let forget remove it (e.g. 30d, 720h)")
	return cmd
}

func (a *app) backup(ctx context.Context, paths []string, o backupOptions) error {
	var expires *time.Time
	if o.ttl != "" {
		d, err := core.ParseDuration("--ttl", o.ttl)
		if err != nil {
			return err
		}
		t := a.Now().Add(d).UTC()
		expires = &t
	}
	abs, err := absPaths(paths)
	if err != nil {
		return err
	}
	for _, ex := range o.excludes {
		if _, err := filepath.Match(ex, ""); err != nil {
			return core.BadInput("--exclude %q: %v", ex, err)
		}
	}
	if o.host == "" {
		if o.host, err = os.Hostname(); err != nil {
			return fmt.Errorf("backup: host name: %w (set --host)", err)
		}
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		return r.WithLock(ctx, repo.Shared, "backup", func(ctx context.Context) error {
			parent, err := a.backupParent(ctx, r, o.parent, o.host, abs)
			if err != nil {
				return err
			}
			if err := a.RetainNew(ctx, r, expires); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			opts := archiver.Options{Paths: abs, Excludes: o.excludes, Tags: o.tags, Host: o.host,
				Parent: parent, Expires: expires, Now: a.Now, Progress: &archiver.Progress{}, Program: "cairn " + core.Version().Version}
			return a.runBackup(ctx, r, opts)
		})
	})
}

// absPaths makes paths absolute and checks they exist.
func absPaths(paths []string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, core.BadInput("%s: %v", p, err)
		}
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			return nil, core.BadInput("%s does not exist", p)
		} else if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		out[i] = abs
	}
	return out, nil
}

// backupParent finds the snapshot an incremental backup compares with:
// the one named, or the newest of the same host and set of paths (none
// is fine: the first backup reads everything).
func (a *app) backupParent(ctx context.Context, r *repo.Repository, ref, host string, paths []string) (*snapshot.Snapshot, error) {
	if ref != "" {
		return findSnapshot(ctx, r, ref)
	}
	sn, err := snapshot.Find(ctx, r, "latest", snapshot.Filter{Host: host, Paths: paths})
	if errors.Is(err, snapshot.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: find parent: %w", err)
	}
	return sn, nil
}

// runBackup runs the archiver with progress (totals from a concurrent scan)
// and shows the result.
func (a *app) runBackup(ctx context.Context, r *repo.Repository, opts archiver.Options) error {
	stop := func() {}
	if !a.Quiet && !a.NoProgress && !a.Machine() {
		var totals archiver.Totals
		var counting atomic.Bool
		counting.Store(true)
		scanCtx, cancel := context.WithCancel(ctx)
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			if archiver.ScanInto(scanCtx, opts.Paths, opts.Excludes, &totals) == nil {
				counting.Store(false)
			}
		}()
		p := opts.Progress
		stopBar := a.StartProgress("backup", func() core.Sample {
			return core.Sample{Done: p.Bytes.Load(), Total: totals.Bytes.Load(), Files: p.Files.Load(),
				TotalFiles: totals.Files.Load(), Counting: counting.Load()}
		})
		stop = func() {
			stopBar()
			cancel()
			<-scanned
		}
	}
	sn, err := archiver.Run(ctx, r, opts)
	stop()
	if sn == nil {
		return fmt.Errorf("backup: %w", err)
	}
	if serr := a.showBackup(sn); serr != nil {
		return serr
	}
	if lerr := a.RetainSnapshot(ctx, r, sn); lerr != nil {
		return fmt.Errorf("backup: snapshot %s saved, but %w", sn.ShortID(), lerr)
	}
	if err != nil {
		for _, e := range sn.Summary.Errors {
			a.Warn("%s", e)
		}
		return fmt.Errorf("backup: snapshot %s saved: %w", sn.ShortID(), err)
	}
	return nil
}

func (a *app) showBackup(sn *snapshot.Snapshot) error {
	if a.Machine() {
		return a.Emit(viewSnapshot(sn))
	}
	s := sn.Summary
	parent := ""
	if sn.Parent != "" {
		parent = " (parent " + core.ShortID(sn.Parent) + ")"
	}
	a.Say("snapshot %s saved%s", sn.ShortID(), parent)
	if s == nil {
		return nil
	}
	a.Say("files:    %d new, %d changed, %d unchanged; %d dirs, %d others", s.FilesNew, s.FilesChanged, s.FilesUnchanged, s.Dirs, s.Others)
	a.Say("read:     %s of %s", core.HumanBytes(s.BytesRead), core.HumanBytes(s.TotalBytes))
	a.Say("added:    %s, stored %s", core.HumanBytes(s.BytesAdded), core.HumanBytes(s.StoredAdded))
	if len(s.Errors) > 0 {
		a.Say("errors:   %d entries could not be read", len(s.Errors))
	}
	a.Say("duration: %s", core.HumanDuration(s.End.Sub(s.Start)))
	return nil
}
