//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
)

func (a *app) ctlRestoreCommand(f *core.CtlFlags) *cobra.Command {
	return a.family("restore", "Restores run by the controller: create, get, describe, logs, delete",
		a.ctlRestoreCreateCommand(f),
		a.getCommand(f, "", "List Restores: name, backup, phase, counts", restores.list(a, nil, nil), nsRestores.list(a, nil, nil)),
		a.describeCommand(f, "the restore's name", "Show a Restore: backup, phase, reason, counts, failed objects",
			restores.describe(a, describeRestore, nil), nsRestores.describe(a, describeNamespaceRestore, nil)),
		a.ctlRestoreLogsCommand(f), a.ctlRestoreDeleteCommand(f))
}

func (a *app) ctlRestoreCreateCommand(f *core.CtlFlags) *cobra.Command {
	var (
		fromBackup, fromSchedule string
		sel                      core.Selection
		mappings                 []string
		includeCluster, policy   string
		preserveNodePorts, wait  bool
	)
	cmd := &cobra.Command{
		Use:   "create [NAME] --from-backup BACKUP | --from-schedule SCHEDULE",
		Short: "Create a Restore for the controller to run",
		Long: `Create a Restore object; the controller restores the backup into the cluster.
An object that exists is never changed (disaster recovery: delete it first
to restore it) unless --existing-resource-policy=update.

--from-schedule restores the newest Completed backup of the schedule.
NAME defaults to <backup or schedule>-<UTC time>. With --wait, wait until it
is done: exit 0 when it completed, 3 when it partially failed, 1 when it
failed, with the reason.`,
		Args: core.Args(0, 1, "at most one restore name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			if (fromBackup == "") == (fromSchedule == "") {
				return core.BadInput("give exactly one of --from-backup and --from-schedule")
			}
			spec := cairnv1.RestoreSpec{
				BackupName: fromBackup, ScheduleName: fromSchedule,
				IncludedNamespaces: sel.IncludeNamespaces, ExcludedNamespaces: sel.ExcludeNamespaces,
				IncludedResources: sel.IncludeResources, ExcludedResources: sel.ExcludeResources,
				LabelSelector: sel.Selector, IncludeClusterResources: includeCluster,
				ExistingResourcePolicy: policy, PreserveNodePorts: preserveNodePorts,
			}
			for _, m := range mappings {
				for _, pair := range strings.Split(m, ",") {
					old, nu, ok := strings.Cut(pair, "=")
					if !ok || old == "" || nu == "" {
						return core.BadInput("--namespace-mapping %q: use OLD=NEW", pair)
					}
					if spec.NamespaceMapping == nil {
						spec.NamespaceMapping = map[string]string{}
					}
					spec.NamespaceMapping[old] = nu
				}
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			} else {
				name = fromBackup + fromSchedule + "-" + a.Now().UTC().Format("20060102150405")
			}
			c, self, err := a.connect(ctx, f)
			switch {
			case err != nil:
				return err
			case self:
				return a.nsRestoreCreate(ctx, c, a.Namespace(f), name, spec, wait)
			}
			rs := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.Namespace(f)}, Spec: spec}
			if err := c.Create(ctx, rs); err != nil {
				return fmt.Errorf("create restore %s: %w", name, err)
			}
			a.Say("restore %s created", name)
			if !wait {
				a.Say("see `cairn ctl restore describe %s`", name)
				return nil
			}
			err = a.waitPhase(ctx, "restore "+name, errPartialRestore, func() (cairnv1.Phase, string, error) {
				if err := c.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
					return "", "", err
				}
				return rs.Status.Phase, rs.Status.FailureReason, nil
			})
			if rs.Status.Phase.Finished() {
				a.Say("restore %s of backup %s: %d created, %d updated, %d skipped, %d failed", name, rs.Status.BackupName,
					rs.Status.Created, rs.Status.Updated, rs.Status.Skipped, rs.Status.Failed)
			}
			return err
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&fromBackup, "from-backup", "", "the Backup to restore")
	fl.StringVar(&fromSchedule, "from-schedule", "", "restore the newest Completed backup of this Schedule")
	fl.StringArrayVar(&mappings, "namespace-mapping", nil, "restore namespace OLD as NEW: OLD=NEW (repeatable, or comma-separated)")
	sel.Register(fl, "restore", "globs")
	fl.StringVar(&includeCluster, "include-cluster-resources", "", "cluster-scoped objects: auto (default), true or false")
	fl.StringVar(&policy, "existing-resource-policy", "", "objects that exist and differ: none (default: leave them) or update")
	fl.BoolVar(&preserveNodePorts, "preserve-nodeports", false, "keep the node ports of services")
	fl.BoolVarP(&wait, "wait", "w", false, "wait until the restore is done; exit 0, 1 or 3 by its result")
	return cmd
}

type restoreRow struct {
	Name     string       `json:"name"`
	Backup   string       `json:"backup"`
	Phase    string       `json:"phase"`
	Created  int          `json:"created"`
	Updated  int          `json:"updated"`
	Skipped  int          `json:"skipped"`
	Failed   int          `json:"failed"`
	Started  *metav1.Time `json:"started,omitempty"`
	Reason   string       `json:"failureReason,omitempty"`
	Failures []string     `json:"failures,omitempty"`
}

func viewRestoreCR(r *cairnv1.Restore) restoreRow {
	b := r.Status.BackupName
	if b == "" {
		b = r.Spec.BackupName
		if r.Spec.ScheduleName != "" {
			b = "(newest of " + r.Spec.ScheduleName + ")"
		}
	}
	return restoreRow{Name: r.Name, Backup: b, Phase: core.HumanPhase(r.Status.Phase), Created: r.Status.Created, Updated: r.Status.Updated,
		Skipped: r.Status.Skipped, Failed: r.Status.Failed, Started: r.Status.StartTimestamp, Reason: r.Status.FailureReason, Failures: r.Status.Failures}
}

// restores is how get and describe show Restores.
var restores = table[cairnv1.Restore, restoreRow]{
	kind:   newKind("restore", "cairn ctl restore get", false, func(l *cairnv1.RestoreList) []cairnv1.Restore { return l.Items }),
	view:   viewRestoreCR,
	header: []any{"NAME", "BACKUP", "PHASE", "CREATED", "SKIPPED", "FAILED", "STARTED"},
	cells: func(r restoreRow) []any {
		return []any{r.Name, r.Backup, r.Phase, r.Created, r.Skipped, r.Failed, core.MetaTime(r.Started)}
	},
}

func describeRestore(w io.Writer, rs *cairnv1.Restore, r restoreRow) {
	core.Row(w, "Name:", r.Name)
	core.Row(w, "Backup:", r.Backup)
	core.Row(w, "Phase:", r.Phase)
	if r.Reason != "" {
		core.Row(w, "Reason:", r.Reason)
	}
	restoreCounts(w, r, rs.Status.CompletionTimestamp)
}

// restoreCounts writes the lines of describe about what a restore did.
func restoreCounts(w io.Writer, r restoreRow, completed *metav1.Time) {
	core.Row(w, "Created:", r.Created)
	core.Row(w, "Updated:", r.Updated)
	core.Row(w, "Skipped:", r.Skipped)
	core.Row(w, "Failed:", r.Failed)
	core.Row(w, "Started:", core.MetaTime(r.Started))
	core.Row(w, "Completed:", core.MetaTime(completed))
	for _, fl := range r.Failures {
		core.Row(w, "Failed object:", fl)
	}
}

// LogLine is one line of `cairn ctl backup logs` and `restore logs`.
type LogLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// restoreLog is what the controller recorded of a restore, as log lines:
// why it failed, the failed objects (the first 20 of them), the pod
// volumes that failed or were missed, and how many warnings there were.
func restoreLog(rs *cairnv1.Restore) []LogLine {
	st := rs.Status
	lines := []LogLine{}
	add := func(level, format string, args ...any) {
		lines = append(lines, LogLine{level, fmt.Sprintf(format, args...)})
	}
	if st.FailureReason != "" {
		add("error", "%s", st.FailureReason)
	} else if st.Phase == cairnv1.PhaseFailed {
		for _, c := range st.Conditions {
			if c.Message != "" {
				add("error", "%s: %s", c.Reason, c.Message)
			}
		}
	}
	for _, fl := range st.Failures {
		add("error", "failed: %s", fl)
	}
	if more := st.Failed - len(st.Failures); more > 0 && len(st.Failures) > 0 {
		add("error", "%d more objects failed (the status lists the first %d)", more, len(st.Failures))
	}
	if v := st.Volumes; v != nil {
		for _, fl := range v.Failed {
			add("error", "pod volume failed: %s", fl)
		}
		for _, m := range v.Missed {
			add("warning", "pod volume missed: %s", m)
		}
	}
	if st.Warnings > 0 {
		add("warning", "%d warnings; the controller records how many, not their text: run `cairn restore run --dry-run` "+
			"with the same flags to see them", st.Warnings)
	}
	return lines
}

func (a *app) ctlRestoreLogsCommand(f *core.CtlFlags) *cobra.Command {
	return a.logsCommand(f, "the restore's name", "Print a restore's errors and warnings, as the controller recorded them",
		`Print the log of a restore: why it failed or partially failed, each object
that could not be restored with the API server's reason (the first 20; the
count says how many there were), the pod volumes that failed or were
missed, and the number of warnings. These are read from the Restore's
status, where the controller records them.`,
		restores.one(func(_ context.Context, _ client.Client, rs *cairnv1.Restore) error {
			return a.restoreLog(rs.Name, core.Dash(rs.Status.BackupName), rs.Status)
		}), nsRestores.one(func(_ context.Context, _ client.Client, nr *cairnv1.NamespaceRestore) error {
			st := nr.Status
			return a.restoreLog(nr.Name, nr.Spec.BackupName, cairnv1.RestoreStatus{Phase: st.Phase, RestoreOutcome: st.RestoreOutcome, Conditions: st.Conditions})
		}))
}

// restoreLog prints the log of restore name of backup: what the
// controller recorded in its status st.
func (a *app) restoreLog(name, backup string, st cairnv1.RestoreStatus) error {
	return a.showLog(restoreLog(&cairnv1.Restore{Status: st}), func() {
		a.Say("restore %s of backup %s: %s, %d created, %d updated, %d skipped, %d failed, %s to %s", name, backup,
			core.HumanPhase(st.Phase), st.Created, st.Updated, st.Skipped, st.Failed, core.MetaTime(st.StartTimestamp), core.MetaTime(st.CompletionTimestamp))
		if !st.Phase.Finished() {
			a.Say("the restore is not finished: the log is complete once it is")
		}
	})
}
