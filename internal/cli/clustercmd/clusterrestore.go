//go:build !fsonly

package clustercmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/repo"
)

// clusterRestoreOptions are the flags of `restore run`.
type clusterRestoreOptions struct {
	fromBackup                string
	mappings                  []string
	sel                       core.Selection
	includeCluster, policy    string
	preserveNodePorts, dryRun bool
	kube                      core.KubeFlags
}

// clusterRestoreCommand is `cairn restore`: restores of cluster backups.
func (a *app) clusterRestoreCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "restore", Short: "Restore Kubernetes resources from a cluster backup"}
	a.Group(cmd)
	cmd.AddCommand(a.clusterRestoreRunCommand())
	return cmd
}

func (a *app) clusterRestoreRunCommand() *cobra.Command {
	var o clusterRestoreOptions
	cmd := &cobra.Command{
		Use:     "run [NAME] --from-backup BACKUP",
		Aliases: []string{"create"},
		Short:   "Restore the resources of a cluster backup into a cluster",
		Long: `Create the Kubernetes objects of a cluster backup in the cluster of the
kubeconfig (KUBECONFIG, --kubeconfig, --context), in dependency order: CRDs,
namespaces, storage, service accounts and RBAC, secrets and config maps,
services, workloads, then everything else. Objects that a restored
controller makes again (a Deployment's ReplicaSets and their Pods, …) are
left to it.

An object that exists is never changed: it is reported skipped, "exists:
same" or "exists: differs". --existing-resource-policy=update patches the
differing ones with the backup's fields.

BACKUP is a backup's name or a unique prefix of its snapshot ID. NAME names
this restore (label cairn.dev/restore on every restored object; default
<backup>-<time>). Exit code 1 means nothing could be restored, 3 that some
objects failed (each says why).`,
		Args: core.Args(0, 1, "at most one restore name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return a.clusterRestore(ctx, name, o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.fromBackup, "from-backup", "", "the backup to restore: its name or a snapshot ID prefix")
	f.StringArrayVar(&o.mappings, "namespace-mapping", nil, "restore namespace OLD as NEW: OLD=NEW (repeatable, or comma-separated)")
	o.sel.Register(f, "restore", "globs, comma-separated or repeated")
	f.StringVar(&o.includeCluster, "include-cluster-resources", "auto", "cluster-scoped objects: auto (all unless a namespace filter is set), true or false")
	f.StringVar(&o.policy, "existing-resource-policy", clusterrestore.PolicyNone, "what to do with objects that exist and differ: none (leave them) or update (patch them)")
	f.BoolVar(&o.preserveNodePorts, "preserve-nodeports", false, "keep the node ports of services (they may collide; dropped by default)")
	f.BoolVar(&o.dryRun, "dry-run", false, "change nothing: report what would be created (validated by the API server) or skipped")
	o.kube.Register(f)
	_ = cmd.MarkFlagRequired("from-backup")
	return cmd
}

func (a *app) clusterRestore(ctx context.Context, name string, o clusterRestoreOptions) error {
	opts, err := o.engineOptions(name)
	if err != nil {
		return err
	}
	cfg, err := a.RestConfig(o.kube)
	if err != nil {
		return err
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		return r.WithLock(ctx, repo.Shared, "restore", func(ctx context.Context) error {
			sn, err := backup.Find(ctx, r, o.fromBackup)
			if err != nil {
				return fmt.Errorf("%w (see `cairn backup get`)", err)
			}
			if opts.Resurrected, err = erase.Resurrection(ctx, r, sn.Time); err != nil {
				return err
			}
			opts.Progress = &clusterrestore.Progress{}
			stop := a.StartProgress("restore", func() core.Sample {
				return core.Sample{Done: opts.Progress.Done.Load(), Total: opts.Progress.Total.Load(), Unit: "objects"}
			})
			rep, err := clusterrestore.Run(ctx, r, sn, cfg, opts)
			stop()
			if errors.Is(err, clusterrestore.ErrOptions) {
				return core.Usage(err)
			}
			if rep != nil {
				if serr := a.showClusterRestore(rep); serr != nil {
					return serr
				}
			}
			return err
		})
	})
}

// engineOptions checks the flags and turns them into restore options.
func (o clusterRestoreOptions) engineOptions(name string) (clusterrestore.Options, error) {
	mapping := map[string]string{}
	for _, arg := range o.mappings {
		for _, m := range strings.Split(arg, ",") {
			old, nu, ok := strings.Cut(m, "=")
			if !ok {
				old, nu, ok = strings.Cut(m, ":")
			}
			old, nu = strings.TrimSpace(old), strings.TrimSpace(nu)
			if !ok || old == "" || nu == "" {
				return clusterrestore.Options{}, core.BadInput("--namespace-mapping %q: want OLD=NEW", m)
			}
			if prev, dup := mapping[old]; dup && prev != nu {
				return clusterrestore.Options{}, core.BadInput("--namespace-mapping: %s is mapped to both %s and %s", old, prev, nu)
			}
			mapping[old] = nu
		}
	}
	switch o.policy {
	case clusterrestore.PolicyNone, clusterrestore.PolicyUpdate:
	default:
		return clusterrestore.Options{}, core.BadInput("--existing-resource-policy %q: use none or update", o.policy)
	}
	return clusterrestore.Options{
		Name: name, NamespaceMapping: mapping,
		IncludeNamespaces: o.sel.IncludeNamespaces, ExcludeNamespaces: o.sel.ExcludeNamespaces,
		IncludeResources: o.sel.IncludeResources, ExcludeResources: o.sel.ExcludeResources,
		Selector: o.sel.Selector, IncludeClusterResources: o.includeCluster,
		ExistingResourcePolicy: o.policy, PreserveNodePorts: o.preserveNodePorts, DryRun: o.dryRun,
	}, nil
}

// showClusterRestore prints the report: one row per object (skipped and
// failed ones say why), warnings, then the totals.
func (a *app) showClusterRestore(rep *clusterrestore.Report) error {
	if a.Machine() {
		return a.Emit(rep)
	}
	w := a.Table()
	core.Row(w, "KIND", "NAMESPACE", "NAME", "ACTION", "REASON")
	for _, it := range rep.Items {
		ns := it.Namespace
		if ns == "" {
			ns = "-"
		}
		core.Row(w, it.Kind, ns, it.Name, it.Action, it.Reason)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, it := range rep.Items {
		for _, msg := range it.Warnings {
			a.Warn("%s %s: %s", it.Kind, qualified(it.Namespace, it.Name), msg)
		}
	}
	for _, msg := range rep.Warnings {
		a.Warn("%s", msg)
	}
	t := rep.Totals
	dry := ""
	if rep.DryRun {
		dry = fmt.Sprintf(" (dry run: %d would be created, %d updated)", t.WouldCreate, t.WouldUpdate)
	}
	a.Say("restore %s from backup %s: %s; %d created, %d updated, %d skipped, %d failed%s; took %s",
		rep.Name, rep.Backup, rep.Phase, t.Created, t.Updated, t.Skipped, t.Failed, dry, core.HumanDuration(rep.End.Sub(rep.Start)))
	return nil
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
