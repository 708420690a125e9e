//go:build !fsonly

package clustercmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/daemon"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/report"
)

// reportFlags are the flags of `cairn report` and `cairn ctl report`.
type reportFlags struct {
	since, minRet, maxRet, htmlFile, mdFile string
}

func (o *reportFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.since, "since", "30d", "the period: this long back from now")
	f.StringVar(&o.minRet, "min-retention", "", "the shortest retention the policy allows (e.g. 7d): backups expiring sooner are findings")
	f.StringVar(&o.maxRet, "max-retention", "", "the longest retention the policy allows (e.g. 90d): backups kept longer are findings")
	f.StringVar(&o.htmlFile, "html", "", "also write the report as a self-contained HTML page to this file")
	f.StringVar(&o.mdFile, "markdown", "", "also write the report as Markdown to this file")
}

// input returns the report's input the flags give.
func (o *reportFlags) input(a *app) (report.Input, error) {
	in := report.Input{Now: a.Now()}
	var err error
	if in.Since, err = core.ParseDuration("--since", o.since); err != nil {
		return in, err
	}
	if o.minRet != "" {
		if in.MinRetention, err = core.ParseDuration("--min-retention", o.minRet); err != nil {
			return in, err
		}
	}
	if o.maxRet != "" {
		if in.MaxRetention, err = core.ParseDuration("--max-retention", o.maxRet); err != nil {
			return in, err
		}
	}
	return in, nil
}

// write collects the report of r, writes the files the flags name and
// prints it.
func (o *reportFlags) write(ctx context.Context, a *app, r *repo.Repository, in report.Input) error {
	rep, err := report.Collect(ctx, r, in)
	if err != nil {
		return err
	}
	for _, out := range []struct {
		file  string
		write func(f *os.File) error
	}{
		{o.htmlFile, func(f *os.File) error { return report.HTML(f, rep) }},
		{o.mdFile, func(f *os.File) error { return report.Markdown(f, rep) }},
	} {
		if out.file == "" {
			continue
		}
		if err := writeFileAtomic(out.file, out.write); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		a.Say("report written to %s", out.file)
	}
	return a.showReport(rep)
}

func (a *app) reportCommand() *cobra.Command {
	var (
		o            reportFlags
		controllerNS string
		kube         core.KubeFlags
		noCluster    bool
		replicas     []string
	)
	cmd := &cobra.Command{
		Use:   "report [--since 30d] [--html FILE] [--markdown FILE]",
		Short: "Evidence per control for an audit: coverage, retention, protection, tests, findings",
		Long: `Print, per control (ISO 27001 A.8.13, BSI APP.4.4.A5, HIPAA, GDPR, HSLF-FS),
the evidence this repository holds and the gaps found:

  coverage    every user namespace of the cluster (from the kubeconfig; with
              --no-cluster, or without a kubeconfig, the namespaces the
              period's backups hold), its last successful backup and the
              days of the period without one
  retention   per schedule: ttl, number of backups, oldest and newest, and
              every backup kept beyond --max-retention or expiring before
              --min-retention
  protection  encryption, key derivation, keys, object lock and how many
              backups are locked until their expiry; with --replica, the
              snapshots each replica lacks and its lag (in a cluster, the
              location's replicas and its last integrity check)
  tested      the cluster's restore drills (RestoreTests) and their last run

-o json|yaml prints the report in its versioned schema (docs/design/report.md);
--html writes one self-contained page (no scripts, nothing fetched),
--markdown a Markdown file. Exit code 0 even with findings: they are the
report's content. In a cluster with cairn-controller, ` + "`cairn ctl report`" + ` opens
the repository of a BackupLocation instead.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			in, err := o.input(a)
			if err != nil {
				return err
			}
			if !noCluster && (kube.Kubeconfig != "" || a.Env("KUBECONFIG") != "") {
				if in.Namespaces, err = a.clusterNamespaces(ctx, kube); err != nil {
					return err
				}
				in.Drills, in.DrillsUnread = a.clusterDrills(ctx, &core.CtlFlags{Kube: kube, Namespace: controllerNS})
			}
			for _, u := range replicas {
				ri := report.ReplicaInput{Name: u}
				if st, err := a.SourceStore(ctx, u); err != nil {
					ri.Error = err.Error()
				} else {
					ri.Store = st
				}
				in.Replicas = append(in.Replicas, ri)
			}
			return a.WithRepo(ctx, func(r *repo.Repository) error { return o.write(ctx, a, r, in) })
		}),
	}
	f := cmd.Flags()
	o.register(f)
	f.StringArrayVar(&replicas, "replica", nil, "a replica of the repository (path or s3:// URL, the same --s3-* settings) to compare with it: the snapshots it lacks and its lag (repeatable)")
	f.BoolVar(&noCluster, "no-cluster", false, "do not read the cluster's namespaces and drills (report the namespaces the backups hold)")
	f.StringVar(&controllerNS, "controller-namespace", "", "namespace of cairn-controller's objects, for the restore drills (default: CAIRN_NAMESPACE, else cairn-system)")
	kube.Register(f)
	return cmd
}

// ctlReportCommand is `cairn ctl report`: the report of a BackupLocation's
// repository, opened with the passphrase its Secret holds, with the
// cluster's namespaces and drills.
func (a *app) ctlReportCommand(f *core.CtlFlags) *cobra.Command {
	var (
		o   reportFlags
		loc string
	)
	cmd := &cobra.Command{
		Use:   "report [--location NAME] [--since 30d] [--html FILE] [--markdown FILE]",
		Short: "The audit report (cairn report) of a BackupLocation of cairn-controller",
		Long: `Like ` + "`cairn report`" + `, for the repository of a BackupLocation (--location, else
the default one): the repository is opened with the passphrase and
credentials its Secrets hold (reading them needs get on those Secrets in the
controller's namespace); the coverage is of the cluster's namespaces, the
tests are its restore drills.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			in, err := o.input(a)
			if err != nil {
				return err
			}
			cfg, err := a.RestConfig(f.Kube)
			if err != nil {
				return err
			}
			scheme, err := daemon.Scheme()
			if err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("connect to the cluster: %w", err)
			}
			bl, err := a.backupLocation(ctx, c, a.Namespace(f), loc)
			if err != nil {
				return err
			}
			r, err := location.OpenWith(ctx, c, bl, &repo.Keyring{})
			if err != nil {
				return fmt.Errorf("open the repository of BackupLocation %s: %w", bl.Name, err)
			}
			defer r.Close()
			if in.Namespaces, err = a.clusterNamespaces(ctx, f.Kube); err != nil {
				return err
			}
			in.Drills, in.DrillsUnread = a.clusterDrills(ctx, f)
			if c := bl.Status.LastCheck; c != nil {
				in.LastCheck = &report.Check{Time: c.Time.Time, Result: string(c.Result), Message: c.Message}
			}
			for _, rs := range bl.Spec.Replicas {
				ri := report.ReplicaInput{Name: rs.Name}
				for _, st := range bl.Status.Replicas {
					if st.Name == rs.Name && st.LastSuccessfulTime != nil {
						t := st.LastSuccessfulTime.Time
						ri.LastSuccess = &t
					}
				}
				if st, err := location.OpenReplica(ctx, c, bl, rs); err != nil {
					ri.Error = err.Error()
				} else {
					ri.Store = st
				}
				in.Replicas = append(in.Replicas, ri)
			}
			return o.write(ctx, a, r, in)
		}),
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&loc, "location", "", "the BackupLocation (default: the one marked default)")
	return cmd
}

// backupLocation returns the BackupLocation name in ns, or the default one.
func (a *app) backupLocation(ctx context.Context, c client.Client, ns, name string) (*cairnv1.BackupLocation, error) {
	if name != "" {
		var l cairnv1.BackupLocation
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &l); err != nil {
			return nil, core.NotFound(err, "BackupLocation", name, "cairn ctl location get")
		}
		return &l, nil
	}
	var l cairnv1.BackupLocationList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	bl, err := location.Default(l.Items)
	switch {
	case errors.Is(err, location.ErrNoDefault):
		return nil, core.BadInput("no BackupLocation in namespace %s is marked default: name one with --location (see `cairn ctl location get`)", ns)
	case err != nil:
		return nil, core.BadInput("namespace %s: %v: name one with --location, or mark one default with `cairn ctl location set NAME --default`", ns, err)
	}
	return bl, nil
}

// clusterDrills lists the restore drills (RestoreTests) of the
// controller's namespace, or says why they could not be read.
func (a *app) clusterDrills(ctx context.Context, f *core.CtlFlags) ([]report.Drill, string) {
	c, err := a.KubeClient(f)
	if err != nil {
		return nil, err.Error()
	}
	var l cairnv1.RestoreTestList
	if err := c.List(ctx, &l, client.InNamespace(a.Namespace(f))); meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err) {
		return []report.Drill{}, "" // cairn's CRDs are not installed: no drills
	} else if err != nil {
		return nil, fmt.Sprintf("list RestoreTests in %s: %v", a.Namespace(f), err)
	}
	out := []report.Drill{}
	for _, d := range l.Items {
		r := report.Drill{Name: d.Name, Backup: d.Status.BackupName, Phase: core.HumanPhase(d.Status.Phase), Failure: d.Status.FailureReason}
		if t := d.Status.CompletionTimestamp; t != nil {
			r.Ended = &t.Time
		}
		if t := d.Status.LastSuccessfulRun; t != nil {
			r.LastSuccess = &t.Time
		}
		if d.Status.Duration != nil {
			r.Seconds = d.Status.Duration.Seconds()
		}
		out = append(out, r)
	}
	return out, ""
}

// clusterNamespaces lists the cluster's namespaces now.
func (a *app) clusterNamespaces(ctx context.Context, kube core.KubeFlags) ([]report.Namespace, error) {
	cfg, err := a.RestConfig(kube)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, core.BadInput("kubeconfig: %v", err)
	}
	l, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("report: list the cluster's namespaces: %w", err)
	}
	out := []report.Namespace{}
	for _, ns := range l.Items {
		out = append(out, report.Namespace{Name: ns.Name, Labels: ns.Labels, Created: ns.CreationTimestamp.Time})
	}
	return out, nil
}

func (a *app) showReport(rep *report.Report) error {
	if a.Machine() {
		return a.Emit(rep)
	}
	w := a.Table()
	core.Row(w, "NAMESPACE", "LAST SUCCESSFUL BACKUP", "DAYS COVERED", "MISSED", "RPO")
	for _, c := range rep.Coverage {
		last := "never"
		if c.LastBackup != nil {
			last = core.HumanTime(*c.LastBackup) + " (" + c.LastBackupName + ")"
		}
		rpo := "met"
		switch {
		case c.OptedOut:
			rpo = "opted out"
		case !c.RPOMet:
			rpo = "MISSED"
		}
		core.Row(w, c.Namespace, last, fmt.Sprintf("%d/%d", c.DaysCovered, c.DaysExpected), len(c.MissedDays), rpo)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	p := rep.Protection
	lock := p.ObjectLock
	if lock == "" {
		lock = "none"
	}
	a.Say("protection: %s, %d key(s), object lock %s, %d of %d backups locked until their expiry", p.Cipher, p.Keys, lock, p.LockedBackups, p.Backups)
	if c := p.LastCheck; c != nil {
		a.Say("last integrity check: %s, %s %s", c.Time.UTC().Format(time.DateOnly), c.Result, c.Message)
	}
	for _, r := range p.Replicas {
		a.Say("%s", report.ReplicaLine(r))
	}
	a.Say("findings: %d", len(rep.Findings))
	for _, f := range rep.Findings {
		a.Say("  - %s [%s]", f.Text, f.Control)
	}
	return nil
}

// writeFileAtomic writes path through a temporary file in its directory,
// synced and renamed into place: a reader never sees half a report.
func writeFileAtomic(path string, write func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
