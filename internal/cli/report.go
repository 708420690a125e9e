//go:build !fsonly

package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/report"
)

func (a *app) reportCommand() *cobra.Command {
	var (
		since, minRet, maxRet, htmlFile, mdFile string
		kube                                    kubeFlags
		noCluster                               bool
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
              backups are locked until their expiry
  tested      restore drills recorded

-o json|yaml prints the report in its versioned schema (docs/design/report.md);
--html writes one self-contained page (no scripts, nothing fetched),
--markdown a Markdown file. Exit code 0 even with findings: they are the
report's content.`,
		Args: args(0, 0, "no arguments"),
		RunE: a.runE(func(ctx context.Context, _ []string) error {
			in := report.Input{Now: a.now()}
			var err error
			if in.Since, err = parseDuration("--since", since); err != nil {
				return err
			}
			if minRet != "" {
				if in.MinRetention, err = parseDuration("--min-retention", minRet); err != nil {
					return err
				}
			}
			if maxRet != "" {
				if in.MaxRetention, err = parseDuration("--max-retention", maxRet); err != nil {
					return err
				}
			}
			if !noCluster && (kube.kubeconfig != "" || a.env("KUBECONFIG") != "") {
				if in.Namespaces, err = a.clusterNamespaces(ctx, kube); err != nil {
					return err
				}
			}
			return a.withRepo(ctx, func(r *repo.Repository) error {
				rep, err := report.Collect(ctx, r, in)
				if err != nil {
					return err
				}
				for _, out := range []struct {
					file  string
					write func(f *os.File) error
				}{
					{htmlFile, func(f *os.File) error { return report.HTML(f, rep) }},
					{mdFile, func(f *os.File) error { return report.Markdown(f, rep) }},
				} {
					if out.file == "" {
						continue
					}
					if err := writeFileAtomic(out.file, out.write); err != nil {
						return fmt.Errorf("report: %w", err)
					}
					a.say("report written to %s", out.file)
				}
				return a.showReport(rep)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "30d", "the period: this long back from now")
	f.StringVar(&minRet, "min-retention", "", "the shortest retention the policy allows (e.g. 7d): backups expiring sooner are findings")
	f.StringVar(&maxRet, "max-retention", "", "the longest retention the policy allows (e.g. 90d): backups kept longer are findings")
	f.StringVar(&htmlFile, "html", "", "also write the report as a self-contained HTML page to this file")
	f.StringVar(&mdFile, "markdown", "", "also write the report as Markdown to this file")
	f.BoolVar(&noCluster, "no-cluster", false, "do not read the cluster's namespaces (report those the backups hold)")
	kube.register(f)
	return cmd
}

// clusterNamespaces lists the cluster's namespaces now.
func (a *app) clusterNamespaces(ctx context.Context, kube kubeFlags) ([]report.Namespace, error) {
	cfg, err := a.restConfig(kube)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, badInput("kubeconfig: %v", err)
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
	if a.machine() {
		return a.emit(rep)
	}
	w := a.table()
	row(w, "NAMESPACE", "LAST SUCCESSFUL BACKUP", "DAYS COVERED", "MISSED", "RPO")
	for _, c := range rep.Coverage {
		last := "never"
		if c.LastBackup != nil {
			last = humanTime(*c.LastBackup) + " (" + c.LastBackupName + ")"
		}
		rpo := "met"
		switch {
		case c.OptedOut:
			rpo = "opted out"
		case !c.RPOMet:
			rpo = "MISSED"
		}
		row(w, c.Namespace, last, fmt.Sprintf("%d/%d", c.DaysCovered, c.DaysExpected), len(c.MissedDays), rpo)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	p := rep.Protection
	lock := p.ObjectLock
	if lock == "" {
		lock = "none"
	}
	a.say("protection: %s, %d key(s), object lock %s, %d of %d backups locked until their expiry", p.Cipher, p.Keys, lock, p.LockedBackups, p.Backups)
	a.say("findings: %d", len(rep.Findings))
	for _, f := range rep.Findings {
		a.say("  - %s [%s]", f.Text, f.Control)
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
