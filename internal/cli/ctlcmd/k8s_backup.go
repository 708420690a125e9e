//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/location"
)

func (a *app) ctlBackupCommand(f *core.CtlFlags) *cobra.Command {
	return a.family("backup", "Backups run by the controller: create, get, describe, logs, delete",
		a.ctlBackupCreateCommand(f), a.ctlBackupGetCommand(f),
		a.describeCommand(f, "the backup's name", "Show a Backup: spec, phase, reason, counts, times, conditions",
			backups.describe(a, describeBackup, logsHint), nsBackups.describe(a, describeNamespaceBackup, restoreHint)),
		a.ctlBackupLogsCommand(f), a.ctlBackupDeleteCommand(f))
}

// backupSpecFlags are the selection flags of `backup create` and
// `schedule create` (those of `cairn backup run`).
type backupSpecFlags struct {
	sel                    core.Selection
	platform               []string
	includeCluster, optOut string
	ttl, location          string
	defaultVolumes         bool
	flags                  *pflag.FlagSet
}

func (o *backupSpecFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	o.sel.Register(f, "back up", "globs; '*' = all, platform ones too")
	f.StringVar(&o.includeCluster, "include-cluster-resources", "", "cluster-scoped objects: auto (default), true or false")
	f.StringSliceVar(&o.platform, "platform-namespaces", nil, "namespaces left out unless --include-namespaces names them (default: the controller's)")
	f.StringVar(&o.optOut, "opt-out-label", "", "objects and namespaces with this label key are not backed up (default compliantkubernetes.io/nobackup)")
	f.StringVar(&o.ttl, "ttl", "", "keep the backups this long (e.g. 720h, 30d; 0 = forever; default: the controller's, 720h)")
	f.StringVar(&o.location, "storage-location", "", "BackupLocation to use (default: the one marked default)")
	f.BoolVar(&o.defaultVolumes, "default-volumes-to-fs-backup", true, "back up every data volume of the selected pods (false: only those a pod names in backup.velero.io/backup-volumes)")
	o.flags = f
}

func (o *backupSpecFlags) spec() (cairnv1.BackupSpec, error) {
	s := cairnv1.BackupSpec{
		IncludedNamespaces: o.sel.IncludeNamespaces, ExcludedNamespaces: o.sel.ExcludeNamespaces,
		IncludedResources: o.sel.IncludeResources, ExcludedResources: o.sel.ExcludeResources,
		LabelSelector: o.sel.Selector, IncludeClusterResources: o.includeCluster,
		PlatformNamespaces: o.platform, OptOutLabel: o.optOut, StorageLocation: o.location,
	}
	if o.flags != nil && o.flags.Changed("default-volumes-to-fs-backup") {
		s.DefaultVolumesToBackup = &o.defaultVolumes
	}
	if o.ttl != "" {
		d := time.Duration(0)
		if o.ttl != "0" {
			var err error
			if d, err = core.ParseDuration("--ttl", o.ttl); err != nil {
				return s, err
			}
		}
		s.TTL = &metav1.Duration{Duration: d}
	}
	// Check what the engine will check, before anything is created.
	opts := backup.Options{Name: "check", IncludeNamespaces: s.IncludedNamespaces, ExcludeNamespaces: s.ExcludedNamespaces,
		IncludeResources: s.IncludedResources, ExcludeResources: s.ExcludedResources, Selector: s.LabelSelector,
		IncludeClusterResources: s.IncludeClusterResources}
	if err := opts.Validate(); err != nil {
		return s, core.Usage(err)
	}
	return s, nil
}

func (a *app) ctlBackupCreateCommand(f *core.CtlFlags) *cobra.Command {
	var o backupSpecFlags
	var wait bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a Backup for the controller to run",
		Long: `Create a Backup object; the controller backs up the selected resources into
the repository of the BackupLocation. With --wait, wait until it is done:
exit 0 when it completed, 3 when it partially failed, 1 when it failed, with
the reason.`,
		Args: core.Args(1, 1, "the backup's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			spec, err := o.spec()
			if err != nil {
				return err
			}
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: a.Namespace(f)}, Spec: spec}
			if err := c.Create(ctx, b); err != nil {
				return fmt.Errorf("create backup %s: %w", args[0], err)
			}
			a.Say("backup %s created", args[0])
			if !wait {
				a.Say("see `cairn ctl backup describe %s`", args[0])
				return nil
			}
			return a.waitBackup(ctx, c, b)
		}),
	}
	o.register(cmd)
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "wait until the backup is done; exit 0, 1 or 3 by its result")
	return cmd
}

func (a *app) waitBackup(ctx context.Context, c client.Client, b *cairnv1.Backup) error {
	err := a.waitPhase(ctx, "backup "+b.Name, errPartialBackup, func() (cairnv1.Phase, string, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
			return "", "", err
		}
		return b.Status.Phase, b.Status.FailureReason, nil
	})
	if err == nil {
		a.Say("backup %s completed: %d objects, %d warnings (snapshot %s)", b.Name, b.Status.Items, b.Status.Warnings, core.ShortID(b.Status.SnapshotID))
	}
	return err
}

// BackupRow is a Backup as get shows it.
type BackupRow struct {
	Name       string       `json:"name"`
	Phase      string       `json:"phase"`
	Items      int          `json:"items"`
	Errors     int          `json:"errors"`
	Warnings   int          `json:"warnings"`
	Started    *metav1.Time `json:"started,omitempty"`
	Expires    *metav1.Time `json:"expires,omitempty"`
	Location   string       `json:"storageLocation,omitempty"`
	Schedule   string       `json:"schedule,omitempty"`
	SnapshotID string       `json:"snapshotID,omitempty"`
	Reason     string       `json:"failureReason,omitempty"`
}

func viewBackupCR(b *cairnv1.Backup) BackupRow {
	return BackupRow{
		Name: b.Name, Phase: core.HumanPhase(b.Status.Phase), Items: b.Status.Items, Errors: b.Status.Errors, Warnings: b.Status.Warnings,
		Started: b.Status.StartTimestamp, Expires: b.Status.Expiration, Location: b.Status.StorageLocation,
		Schedule: b.Labels[cairnv1.LabelSchedule], SnapshotID: b.Status.SnapshotID, Reason: b.Status.FailureReason,
	}
}

// backups is how get and describe show Backups.
var backups = table[cairnv1.Backup, BackupRow]{
	kind:   newKind("backup", "cairn ctl backup get", false, func(l *cairnv1.BackupList) []cairnv1.Backup { return l.Items }),
	view:   viewBackupCR,
	header: []any{"NAME", "PHASE", "ITEMS", "ERRORS", "WARNINGS", "STARTED", "EXPIRES", "LOCATION"},
	cells: func(r BackupRow) []any {
		return []any{r.Name, r.Phase, r.Items, r.Errors, r.Warnings, core.MetaTime(r.Started), core.MetaTime(r.Expires), r.Location}
	},
}

func (a *app) ctlBackupGetCommand(f *core.CtlFlags) *cobra.Command {
	var schedule string
	bySchedule := func() []client.ListOption {
		if schedule == "" {
			return nil
		}
		return []client.ListOption{client.MatchingLabels{cairnv1.LabelSchedule: schedule}}
	}
	cmd := a.getCommand(f, "backup names", "List Backups: name, phase, items, errors, warnings, started, expires",
		backups.list(a, bySchedule, nil), nsBackups.list(a, nil, func(b *cairnv1.NamespaceBackup) bool {
			return schedule == "" || b.Status.Schedule == schedule
		}))
	cmd.Flags().StringVar(&schedule, "schedule", "", "only the backups of this schedule")
	return cmd
}

// logsHint points describe to a backup's warnings and errors, if any.
func logsHint(b *cairnv1.Backup) string {
	if b.Status.Warnings+b.Status.Errors > 0 {
		return fmt.Sprintf("see `cairn ctl backup logs %s` for the warnings and errors", b.Name)
	}
	return ""
}

// restoreHint says how a namespace's owner restores the backup.
func restoreHint(b *cairnv1.NamespaceBackup) string {
	return fmt.Sprintf("restore it: cairn ctl restore create --from-backup %s -n %s --wait", b.Name, b.Namespace)
}

func describeBackup(w io.Writer, b *cairnv1.Backup, r BackupRow) {
	core.Row(w, "Name:", b.Name)
	core.Row(w, "Phase:", r.Phase)
	if r.Reason != "" {
		core.Row(w, "Reason:", r.Reason)
	}
	core.Row(w, "Schedule:", core.Dash(r.Schedule))
	core.Row(w, "Location:", core.Dash(r.Location))
	core.Row(w, "Snapshot:", core.Dash(r.SnapshotID))
	core.Row(w, "Items:", r.Items)
	core.Row(w, "Warnings:", r.Warnings)
	core.Row(w, "Errors:", r.Errors)
	core.Row(w, "Started:", core.MetaTime(b.Status.StartTimestamp))
	core.Row(w, "Completed:", core.MetaTime(b.Status.CompletionTimestamp))
	core.Row(w, "Expires:", core.MetaTime(b.Status.Expiration))
	core.Row(w, "Namespaces:", core.Dash(strings.Join(b.Spec.IncludedNamespaces, ",")))
	core.Row(w, "Excluded namespaces:", core.Dash(strings.Join(b.Spec.ExcludedNamespaces, ",")))
	core.Row(w, "Resources:", core.Dash(strings.Join(b.Spec.IncludedResources, ",")))
	core.Row(w, "Excluded resources:", core.Dash(strings.Join(b.Spec.ExcludedResources, ",")))
	core.Row(w, "Selector:", core.Dash(b.Spec.LabelSelector))
	conditions(w, b.Status.Conditions)
}

// ctlBackupLogsCommand prints a backup's log: the warnings and errors its
// manifest records in the repository (the controller keeps no other log
// of a backup; the manifest is written once, with the backup).
func (a *app) ctlBackupLogsCommand(f *core.CtlFlags) *cobra.Command {
	return a.logsCommand(f, "the backup's name", "Print a backup's warnings and errors, as recorded in the repository",
		`Print the log of a backup: the warnings and errors it recorded in its
manifest in the repository. The repository is opened with the passphrase in
the BackupLocation's Secret, so this needs read access to that Secret. In a
namespace of your own (self-service) it prints what the namespace's view
holds, the backup's phase; the full log is the administrator's.`,
		backups.one(a.backupLog), nsBackups.one(a.nsBackupLog))
}

// backupLog prints the warnings and errors of backup b's manifest.
func (a *app) backupLog(ctx context.Context, c client.Client, b *cairnv1.Backup) error {
	if b.Status.SnapshotID == "" {
		return fmt.Errorf("backup %s is %s and has saved nothing: %s", b.Name, core.HumanPhase(b.Status.Phase), core.Dash(b.Status.FailureReason))
	}
	var loc cairnv1.BackupLocation
	if err := c.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Status.StorageLocation}, &loc); err != nil {
		return core.NotFound(err, "backup location", b.Status.StorageLocation, "cairn ctl location get")
	}
	r, err := location.Open(ctx, c, &loc)
	if err != nil {
		return err
	}
	defer r.Close()
	sn, err := backup.Find(ctx, r, b.Status.SnapshotID)
	if err != nil {
		return err
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		return err
	}
	lines := []LogLine{}
	for _, w := range m.Warnings {
		lines = append(lines, LogLine{"warning", w})
	}
	for _, e := range m.Errors {
		lines = append(lines, LogLine{"error", e})
	}
	return a.showLog(lines, func() {
		a.Say("backup %s: %s, %d objects, %s to %s", b.Name, m.Phase, m.Items, m.Start.UTC().Format(time.RFC3339), m.End.UTC().Format(time.RFC3339))
	})
}
