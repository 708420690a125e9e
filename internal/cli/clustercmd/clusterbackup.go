//go:build !fsonly

package clustercmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// clusterBackupCommand is `cairn backup`: backups of Kubernetes resources.
func (a *app) clusterBackupCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Back up Kubernetes resources; list, describe and browse backups"}
	a.Group(cmd)
	cmd.AddCommand(a.backupRunCommand(), a.backupGetCommand(), a.backupDescribeCommand(), a.backupLsCommand())
	return cmd
}

// backupRunOptions are the flags of `backup run`.
type backupRunOptions struct {
	sel                    core.Selection
	includeCluster, optOut string
	platform               []string
	ttl                    string
	kube                   core.KubeFlags
}

func (a *app) backupRunCommand() *cobra.Command {
	var o backupRunOptions
	cmd := &cobra.Command{
		Use:     "run NAME",
		Aliases: []string{"create"},
		Short:   "Back up the resources of a cluster into a snapshot named NAME",
		Long: `Back up the API resources of the cluster of the kubeconfig (KUBECONFIG,
--kubeconfig, --context) into one snapshot: every object as a JSON file under
resources/<group>/<resource>/namespaces/<ns>/<name>.json (or .../cluster/),
and manifest.json with counts, warnings and errors.

By default every namespace but the platform's (--platform-namespaces) is
backed up, with the cluster-scoped objects they need: the namespaces
themselves, CRDs of their custom resources, PVs bound to their PVCs, storage
classes, cluster roles and bindings of their service accounts. Objects
labelled with the opt-out label (or velero.io/exclude-from-backup=true) are
left out; a namespace so labelled is left out whole. Events, nodes, leases
and objects the cluster rebuilds are never backed up.

Exit code 3 means the backup was saved but some resource types could not be
listed (each error says which and why).`,
		Args: core.Args(1, 1, "the backup's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error { return a.backupRun(ctx, args[0], o) }),
	}
	f := cmd.Flags()
	o.sel.Register(f, "back up", "globs; '*' = all, platform ones too")
	f.StringVar(&o.includeCluster, "include-cluster-resources", backup.ClusterAuto, "cluster-scoped objects: auto (those the backup needs; all with --include-namespaces '*'), true or false")
	f.StringSliceVar(&o.platform, "platform-namespaces", backup.DefaultPlatformNamespaces, "namespaces left out unless --include-namespaces names them")
	f.StringVar(&o.optOut, "opt-out-label", backup.DefaultOptOutLabel, "objects and namespaces with this label key are not backed up")
	f.StringVar(&o.ttl, "ttl", "720h", "keep the backup this long, then let forget remove it (e.g. 30d, 720h; 0 = no expiry)")
	o.kube.Register(f)
	return cmd
}

func (a *app) backupRun(ctx context.Context, name string, o backupRunOptions) error {
	var ttl time.Duration
	if o.ttl != "0" && o.ttl != "" {
		d, err := core.ParseDuration("--ttl", o.ttl)
		if err != nil {
			return err
		}
		ttl = d
	}
	opts := backup.Options{
		Name: name, IncludeNamespaces: o.sel.IncludeNamespaces, ExcludeNamespaces: o.sel.ExcludeNamespaces,
		IncludeResources: o.sel.IncludeResources, ExcludeResources: o.sel.ExcludeResources,
		Selector: o.sel.Selector, IncludeClusterResources: o.includeCluster,
		PlatformNamespaces: o.platform, OptOutLabel: o.optOut, TTL: ttl,
		Now: a.Now, Progress: &backup.Progress{},
	}
	if opts.PlatformNamespaces == nil {
		opts.PlatformNamespaces = []string{}
	}
	if err := opts.Validate(); err != nil {
		return core.Usage(err)
	}
	cfg, err := a.RestConfig(o.kube)
	if err != nil {
		return err
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		return r.WithLock(ctx, repo.Shared, "backup", func(ctx context.Context) error {
			var expires *time.Time
			if ttl > 0 {
				t := a.Now().Add(ttl)
				expires = &t
			}
			if err := a.RetainNew(ctx, r, expires); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			stop := a.StartProgress("backup", func() core.Sample {
				return core.Sample{Done: opts.Progress.Objects.Load(), Unit: "objects", Counting: true}
			})
			sn, m, err := backup.Run(ctx, r, cfg, opts)
			stop()
			switch {
			case errors.Is(err, backup.ErrExists), errors.Is(err, backup.ErrInvalid):
				return core.Usage(err)
			case sn == nil:
				return err
			}
			if serr := a.showBackupRun(sn, m); serr != nil {
				return serr
			}
			if lerr := a.RetainSnapshot(ctx, r, sn); lerr != nil {
				return fmt.Errorf("backup: %s saved, but %w", sn.ShortID(), lerr)
			}
			return err
		})
	})
}

// BackupView is a backup as get and run show it.
type BackupView struct {
	Name     string     `json:"name"`
	Snapshot string     `json:"snapshot"`
	Phase    string     `json:"phase"`
	Items    int        `json:"items"`
	Errors   int        `json:"errors"`
	Warnings int        `json:"warnings"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	Size     int64      `json:"size_bytes"`
	Added    int64      `json:"added_bytes"`
	Duration string     `json:"duration"`
	Cluster  string     `json:"cluster"`
}

func viewBackup(sn *snapshot.Snapshot, m *layout.Manifest) BackupView {
	v := BackupView{
		Name: backup.Name(sn), Snapshot: sn.ID, Phase: m.Phase, Items: m.Items, Errors: len(m.Errors),
		Warnings: len(m.Warnings), Created: sn.Time, Expires: sn.Expires, Cluster: m.Cluster,
		Duration: core.HumanDuration(m.End.Sub(m.Start)),
	}
	if sn.Summary != nil {
		v.Size, v.Added = sn.Summary.TotalBytes, sn.Summary.StoredAdded
	}
	return v
}

func (a *app) showBackupRun(sn *snapshot.Snapshot, m *layout.Manifest) error {
	if a.Machine() {
		return a.Emit(struct {
			Snapshot string           `json:"snapshot"`
			Manifest *layout.Manifest `json:"manifest"`
		}{sn.ID, m})
	}
	v := viewBackup(sn, m)
	for _, w := range m.Warnings {
		a.Warn("%s", w)
	}
	for _, e := range m.Errors {
		fmt.Fprintln(a.Stderr, "cairn: error: "+e)
	}
	a.Say("backup %s (snapshot %s) %s: %d objects in %d namespaces, %d types, %s (%s new) in %s",
		v.Name, sn.ShortID(), v.Phase, v.Items, namespacesIn(m), len(m.Resources), core.HumanBytes(v.Size), core.HumanBytes(v.Added), v.Duration)
	if v.Expires != nil {
		a.Say("expires %s", core.HumanTime(*v.Expires))
	}
	return nil
}

func namespacesIn(m *layout.Manifest) int {
	n := 0
	for ns := range m.CountsByNamespace {
		if ns != "" {
			n++
		}
	}
	return n
}
