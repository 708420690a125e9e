package fscmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) snapshotsCommand() *cobra.Command {
	var tags, paths []string
	var host string
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots, oldest first",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			abs := make([]string, len(paths))
			for i, p := range paths {
				var err error
				if abs[i], err = filepath.Abs(p); err != nil {
					return core.BadInput("--path %s: %v", p, err)
				}
			}
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				return a.listSnapshots(ctx, r, snapshot.Filter{Host: host, Tags: tags}, abs)
			})
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "only snapshots with this tag (repeatable: all of them)")
	f.StringVar(&host, "host", "", "only snapshots of this host")
	f.StringArrayVar(&paths, "path", nil, "only snapshots that include this path (repeatable: all of them)")
	return cmd
}

// snapshotView is a snapshot as cairn prints it: the manifest with its ID.
type snapshotView struct {
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
	*snapshot.Snapshot
}

func viewSnapshot(sn *snapshot.Snapshot) snapshotView {
	return snapshotView{ID: sn.ID, ShortID: sn.ShortID(), Snapshot: sn}
}

func (a *app) listSnapshots(ctx context.Context, r *repo.Repository, f snapshot.Filter, paths []string) error {
	all, err := snapshot.List(ctx, r)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	a.warnUnreadable(r)
	views := []snapshotView{}
	for _, sn := range all {
		if f.Match(sn) && includesAll(sn.Paths, paths) {
			views = append(views, viewSnapshot(sn))
		}
	}
	if a.Machine() {
		return a.Emit(views)
	}
	now := a.Now()
	w := a.Table()
	core.Row(w, "ID", "TIME", "HOST", "TAGS", "PATHS", "SIZE", "EXPIRES")
	for _, v := range views {
		size := "-"
		if v.Summary != nil {
			size = core.HumanBytes(v.Summary.TotalBytes)
		}
		expires := "-"
		switch {
		case v.Expired(now):
			expires = "expired"
		case v.Expires != nil:
			expires = core.HumanTime(*v.Expires)
		}
		first := ""
		if len(v.Paths) > 0 {
			first = v.Paths[0]
		}
		core.Row(w, v.ShortID, core.HumanTime(v.Time), v.Host, strings.Join(v.Tags, ","), first, size, expires)
		for _, p := range v.Paths[min(1, len(v.Paths)):] {
			core.Row(w, "", "", "", "", p, "", "")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	a.Say("%d snapshot(s)", len(views))
	return nil
}

// warnUnreadable names on stderr, in every output format, the objects
// readers skipped: the listing stays the stable array, and the exit code 0.
func (a *app) warnUnreadable(r *repo.Repository) {
	bad := r.BadObjects()
	for _, b := range bad {
		a.Warn("%s cannot be read and is skipped: %v", b.Key, b.Err)
	}
	if len(bad) > 0 {
		a.Warn("%d unreadable objects: see `cairn repo check`", len(bad))
	}
}

func includesAll(have, want []string) bool {
	for _, p := range want {
		if !slices.Contains(have, p) {
			return false
		}
	}
	return true
}

// findSnapshot resolves an ID, a unique ID prefix or "latest" (the newest
// snapshot of a directory: not a cluster backup, a pod volume or an
// erasure receipt, which the fs commands are not for). A snapshot that is
// not there, or a prefix that matches several, is bad input.
func findSnapshot(ctx context.Context, r *repo.Repository, ref string) (*snapshot.Snapshot, error) {
	sn, err := snapshot.Find(ctx, r, ref, snapshot.Filter{Directories: true})
	switch {
	case err == nil:
		return sn, nil
	case errors.Is(err, snapshot.ErrNotFound):
		return nil, fmt.Errorf("%w (see `cairn snapshots`)", err)
	}
	// snapshot.Find has no sentinel for an ambiguous prefix: count.
	if all, lerr := snapshot.List(ctx, r); lerr == nil {
		n := 0
		for _, s := range all {
			if strings.HasPrefix(s.ID, ref) {
				n++
			}
		}
		if n > 1 {
			return nil, core.BadInput("%v; give more characters of the ID", err)
		}
	}
	return nil, err
}

// snapshotPath turns a path given on the command line into a path inside
// sn (slash-separated, relative to its root; "" is the root): an absolute
// path under one of the backed-up paths is mapped to where it lies in the
// snapshot; any other path is taken as relative to the snapshot's root.
func snapshotPath(sn *snapshot.Snapshot, p string) string {
	if filepath.IsAbs(p) {
		clean := filepath.Clean(p)
		for _, sp := range sn.Paths {
			rest, ok := strings.CutPrefix(clean, sp)
			if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
				continue
			}
			if sn.Root == nil { // several paths: each is a top entry under its base name
				rest = "/" + filepath.Base(sp) + rest
			}
			return strings.Trim(filepath.ToSlash(rest), "/")
		}
	}
	rel := strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
	if rel == "." {
		return ""
	}
	return rel
}
