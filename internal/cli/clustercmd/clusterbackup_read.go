//go:build !fsonly

package clustercmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) backupGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get [NAME...]",
		Short: "List cluster backups: name, phase, items, errors, warnings, created, expires, size",
		Args:  core.Args(0, -1, "backup names"),
		RunE: a.RunE(func(ctx context.Context, names []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.backupGet(ctx, r, names) })
		}),
	}
}

func (a *app) backupGet(ctx context.Context, r *repo.Repository, names []string) error {
	var sns []*snapshot.Snapshot
	if len(names) == 0 {
		all, err := backup.List(ctx, r)
		if err != nil {
			return err
		}
		sns = all
	}
	for _, n := range names {
		sn, err := findBackup(ctx, r, n)
		if err != nil {
			return err
		}
		sns = append(sns, sn)
	}
	views := []BackupView{}
	for _, sn := range sns {
		m, err := backup.LoadManifest(ctx, r, sn)
		if err != nil {
			return err
		}
		views = append(views, viewBackup(sn, m))
	}
	if a.Machine() {
		return a.Emit(views)
	}
	w := a.Table()
	core.Row(w, "NAME", "PHASE", "ITEMS", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "SIZE")
	for _, v := range views {
		exp := "never"
		if v.Expires != nil {
			exp = core.HumanTime(*v.Expires)
		}
		core.Row(w, v.Name, v.Phase, v.Items, v.Errors, v.Warnings, core.HumanTime(v.Created), exp, core.HumanBytes(v.Size))
	}
	return w.Flush()
}

// findBackup resolves a backup name (or snapshot ID prefix); none is bad
// input.
func findBackup(ctx context.Context, r *repo.Repository, ref string) (*snapshot.Snapshot, error) {
	sn, err := backup.Find(ctx, r, ref)
	if errors.Is(err, snapshot.ErrNotFound) {
		return nil, fmt.Errorf("%w (see `cairn backup get`)", err)
	}
	return sn, err
}

func (a *app) backupDescribeCommand() *cobra.Command {
	var details bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a cluster backup: counts by type and namespace, warnings, errors, size, duration",
		Args:  core.Args(1, 1, "the backup's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.backupDescribe(ctx, r, args[0], details) })
		}),
	}
	cmd.Flags().BoolVar(&details, "details", false, "also count objects per type in each namespace")
	return cmd
}

// Description is what describe shows.
type Description struct {
	BackupView
	ClusterVersion string           `json:"cluster_version"`
	Selection      layout.Selection `json:"selection"`
	ByType         map[string]int   `json:"counts_by_type"`
	ByNamespace    map[string]int   `json:"counts_by_namespace"`
	// Details: namespace ("" = cluster-scoped) -> type -> count.
	Details      map[string]map[string]int `json:"details,omitempty"`
	WarningList  []string                  `json:"warning_list"`
	ErrorList    []string                  `json:"error_list"`
	TTL          string                    `json:"ttl,omitempty"`
	Trees        int64                     `json:"trees"`
	BlobsAdded   int64                     `json:"blobs_added"`
	ObjectsAdded int64                     `json:"objects_added"`
	Labels       map[string]string         `json:"labels,omitempty"`
	Source       *layout.Source            `json:"source,omitempty"` // imported backups
}

func (a *app) backupDescribe(ctx context.Context, r *repo.Repository, ref string, details bool) error {
	sn, err := findBackup(ctx, r, ref)
	if err != nil {
		return err
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		return err
	}
	d := Description{
		BackupView: viewBackup(sn, m), ClusterVersion: m.ClusterVersion, Selection: m.Selection,
		ByType: map[string]int{}, ByNamespace: m.CountsByNamespace, WarningList: m.Warnings, ErrorList: m.Errors, TTL: m.TTL,
		Labels: m.Labels, Source: m.Source,
	}
	for _, res := range m.Resources {
		d.ByType[res.GroupResource()] = res.Count
	}
	if sn.Summary != nil {
		d.Trees, d.BlobsAdded, d.ObjectsAdded = sn.Summary.Dirs, sn.Summary.BlobsAdded, sn.Summary.FilesNew
	}
	if details {
		if d.Details, err = backup.CountObjects(ctx, r, sn); err != nil {
			return err
		}
	}
	if a.Machine() {
		return a.Emit(d)
	}
	a.showDescription(d)
	return nil
}

func (a *app) showDescription(d Description) {
	w := a.Table()
	exp := "never"
	if d.Expires != nil {
		exp = fmt.Sprintf("%s (ttl %s)", core.HumanTime(*d.Expires), d.TTL)
	}
	core.Row(w, "Name:", d.Name)
	core.Row(w, "Snapshot:", d.Snapshot)
	core.Row(w, "Phase:", d.Phase)
	core.Row(w, "Cluster:", fmt.Sprintf("%s (%s)", d.Cluster, d.ClusterVersion))
	core.Row(w, "Created:", core.HumanTime(d.Created))
	core.Row(w, "Duration:", d.Duration)
	core.Row(w, "Expires:", exp)
	core.Row(w, "Items:", fmt.Sprintf("%d (%d new to the repository)", d.Items, d.ObjectsAdded))
	core.Row(w, "Size:", fmt.Sprintf("%s of objects, %s added to the repository (%d blobs, %d trees)", core.HumanBytes(d.Size), core.HumanBytes(d.Added), d.BlobsAdded, d.Trees))
	core.Row(w, "Selection:", describeSelection(d.Selection))
	if src := d.Source; src != nil {
		core.Row(w, "Imported:", fmt.Sprintf("from %s backup %s in %s (phase there %s, uid %s) on %s",
			src.Tool, src.Name, src.Location, src.Phase, src.UID, core.HumanTime(src.Imported)))
	}
	_ = w.Flush()
	a.counts("Objects by type:", d.ByType)
	a.counts("Objects by namespace:", renameCluster(d.ByNamespace))
	for _, ns := range sortedNames(renameDetails(d.Details)) {
		a.counts("Namespace "+ns+":", renameDetails(d.Details)[ns])
	}
	a.list("Warnings", d.WarningList)
	a.list("Errors", d.ErrorList)
}

func describeSelection(s layout.Selection) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+"="+strings.Join(v, ","))
		}
	}
	add("include-namespaces", s.IncludeNamespaces)
	add("exclude-namespaces", s.ExcludeNamespaces)
	add("include-resources", s.IncludeResources)
	add("exclude-resources", s.ExcludeResources)
	if s.Selector != "" {
		parts = append(parts, "selector="+s.Selector)
	}
	parts = append(parts, "include-cluster-resources="+s.IncludeClusterResources, "opt-out-label="+s.OptOutLabel)
	add("platform-namespaces", s.PlatformNamespaces)
	return strings.Join(parts, " ")
}

func (a *app) counts(title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(a.Stdout, "\n"+title)
	w := a.Table()
	for _, k := range sortedNames(m) {
		core.Row(w, "  "+k, m[k])
	}
	_ = w.Flush()
}

func (a *app) list(title string, items []string) {
	fmt.Fprintf(a.Stdout, "\n%s: %d\n", title, len(items))
	for _, it := range items {
		fmt.Fprintln(a.Stdout, "  "+it)
	}
}

// renameCluster shows cluster-scoped counts ("") as "(cluster)".
func renameCluster(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		if k == "" {
			k = "(cluster)"
		}
		out[k] = v
	}
	return out
}

func renameDetails(m map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(m))
	for k, v := range m {
		if k == "" {
			k = "(cluster)"
		}
		out[k] = v
	}
	return out
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (a *app) backupLsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ls NAME [PATH]",
		Short: "List the files of a cluster backup (under PATH, e.g. resources/apps/deployments)",
		Args:  core.Args(1, 2, "the backup's name and optionally a path inside it"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				under := ""
				if len(args) == 2 {
					under = strings.Trim(args[1], "/")
				}
				return a.backupLs(ctx, r, args[0], under)
			})
		}),
	}
}

// backupEntry is one file or directory as `backup ls` shows it.
type backupEntry struct {
	Path    string    `json:"path"`
	Type    string    `json:"type"`
	Size    uint64    `json:"size"`
	Created time.Time `json:"created"`
}

func (a *app) backupLs(ctx context.Context, r *repo.Repository, ref, under string) error {
	sn, err := findBackup(ctx, r, ref)
	if err != nil {
		return err
	}
	n, err := backup.Lookup(ctx, r, sn, under)
	if errors.Is(err, backup.ErrNoFile) {
		return core.Usage(err)
	}
	if err != nil {
		return err
	}
	entries := []backupEntry{}
	add := func(p string, n *snapshot.Node) {
		e := backupEntry{Path: p, Type: n.Type, Size: n.Size}
		if n.ModTime != 0 {
			e.Created = time.Unix(0, n.ModTime)
		}
		entries = append(entries, e)
	}
	if n.Type != snapshot.TypeDir {
		add(under, n)
	} else if err := snapshot.Walk(ctx, r, *n.Subtree, func(p string, n *snapshot.Node) error {
		if under != "" {
			p = under + "/" + p
		}
		add(p, n)
		return nil
	}); err != nil {
		return err
	}
	if a.Machine() {
		return a.Emit(entries)
	}
	w := a.Table()
	for _, e := range entries {
		size, created := fmt.Sprint(e.Size), core.HumanTime(e.Created)
		if e.Type == snapshot.TypeDir {
			size, created = "-", "-"
			e.Path += "/"
		}
		core.Row(w, size, created, e.Path)
	}
	return w.Flush()
}
