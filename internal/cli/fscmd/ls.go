package fscmd

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) lsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List the entries of a snapshot (under PATH)",
		Long: `List the entries of a snapshot (an ID, a unique ID prefix, or "latest"),
ls -l style. PATH is a path inside the snapshot, or an absolute path that was
backed up; without it the whole snapshot is listed.`,
		Args: core.Args(1, 2, "the snapshot (ID, unique prefix or latest) and optionally a path"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				sn, err := findSnapshot(ctx, r, args[0])
				if err != nil {
					return err
				}
				under := ""
				if len(args) == 2 {
					under = snapshotPath(sn, args[1])
				}
				return a.ls(ctx, r, sn, under)
			})
		}),
	}
}

// EntryView is one entry as `ls` prints it.
type EntryView struct {
	Path       string    `json:"path"`
	Type       string    `json:"type"`
	Mode       string    `json:"mode"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Group      string    `json:"group,omitempty"`
	Size       uint64    `json:"size"`
	ModTime    time.Time `json:"mtime"`
	LinkTarget string    `json:"link_target,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func (a *app) ls(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, under string) error {
	entries := []EntryView{}
	err := snapshot.Walk(ctx, r, sn.Tree, func(p string, n *snapshot.Node) error {
		switch {
		case under == "" || p == under || strings.HasPrefix(p, under+"/"):
			entries = append(entries, viewEntry(p, n))
		case n.Type == snapshot.TypeDir && strings.HasPrefix(under, p+"/"):
			// above the wanted path: descend without listing
		default:
			return snapshot.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ls %s: %w", sn.ShortID(), err)
	}
	if under != "" && len(entries) == 0 {
		return core.BadInput("no %q in snapshot %s", under, sn.ShortID())
	}
	if a.Machine() {
		return a.Emit(entries)
	}
	w := a.Table()
	for _, e := range entries {
		name := e.Path
		if e.LinkTarget != "" {
			name += " -> " + e.LinkTarget
		}
		core.Row(w, e.Mode, owner(e.User, e.UID)+" "+owner(e.Group, e.GID), e.Size, core.HumanTime(e.ModTime), name)
	}
	return w.Flush()
}

func viewEntry(p string, n *snapshot.Node) EntryView {
	return EntryView{Path: "/" + p, Type: n.Type, Mode: fileMode(n).String(), UID: n.UID, GID: n.GID, User: n.User, Group: n.Group,
		Size: n.Size, ModTime: time.Unix(0, n.ModTime).UTC(), LinkTarget: n.RawLinkTarget(), Error: n.Error}
}

func owner(name string, id uint32) string {
	if name != "" {
		return name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// fileMode turns a node's type and Unix permission bits into an fs.FileMode.
func fileMode(n *snapshot.Node) fs.FileMode {
	m := fs.FileMode(n.Mode & 0o777)
	for bit, mode := range map[uint32]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if n.Mode&bit != 0 {
			m |= mode
		}
	}
	switch n.Type {
	case snapshot.TypeDir:
		m |= fs.ModeDir
	case snapshot.TypeSymlink:
		m |= fs.ModeSymlink
	case snapshot.TypeDevice:
		m |= fs.ModeDevice
	case snapshot.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case snapshot.TypeFIFO:
		m |= fs.ModeNamedPipe
	case snapshot.TypeSocket:
		m |= fs.ModeSocket
	}
	return m
}
