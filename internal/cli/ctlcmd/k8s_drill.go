//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
)

func (a *app) ctlDrillCommand(f *core.CtlFlags) *cobra.Command {
	return a.family("drill", "Restore drills (RestoreTest): create, get, describe, delete",
		a.ctlDrillCreateCommand(f),
		a.getCommand(f, "", "List restore drills: phase, backup, measured recovery time, last success", drills.list(a, nil, nil), nil),
		a.describeCommand(f, "the drill's name", "Show a restore drill: its checks, scratch namespaces and conditions",
			drills.describe(a, describeDrill, nil), nil),
		a.ctlDelete(f, "drill", "Delete restore drills (their Restores go with them; restored scratch namespaces are already deleted)", "", "deleted",
			newObject[cairnv1.RestoreTest]))
}

func (a *app) ctlDrillCreateCommand(f *core.CtlFlags) *cobra.Command {
	var fromSchedule, fromBackup, schedule string
	cmd := &cobra.Command{
		Use:   "create NAME (--from-schedule S | --from-backup B) [--schedule CRON]",
		Short: "Create a restore drill: restore a backup into scratch namespaces and check it",
		Long: `Create a RestoreTest: the controller restores the newest Completed backup of
--from-schedule (or the backup --from-backup) into scratch namespaces
<namespace>-drill-<id> (never backed up, cluster-scoped objects left out),
checks that every object is back, that the volume files match the snapshot
and that the pods become Ready, records the time it took (the measured
recovery time) and deletes the scratch namespaces. With --schedule (cron, UTC)
it runs again at each time; without, once.`,
		Args: core.Args(1, 1, "the drill's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			if (fromSchedule == "") == (fromBackup == "") {
				return core.BadInput("give one of --from-schedule and --from-backup")
			}
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			d := &cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: a.Namespace(f)},
				Spec: cairnv1.RestoreTestSpec{ScheduleName: fromSchedule, BackupName: fromBackup, Schedule: schedule}}
			if err := c.Create(ctx, d); err != nil {
				return fmt.Errorf("create restore drill %s: %w", args[0], err)
			}
			a.Say("restore drill %s created", args[0])
			return nil
		}),
	}
	cmd.Flags().StringVar(&fromSchedule, "from-schedule", "", "drill the newest Completed backup of this schedule")
	cmd.Flags().StringVar(&fromBackup, "from-backup", "", "drill this backup")
	cmd.Flags().StringVar(&schedule, "schedule", "", "run it again on this cron schedule (UTC), e.g. @weekly")
	return cmd
}

type drillRow struct {
	Name        string       `json:"name"`
	Phase       string       `json:"phase"`
	Backup      string       `json:"backup,omitempty"`
	Duration    string       `json:"duration,omitempty"`
	LastRun     *metav1.Time `json:"lastRun,omitempty"`
	LastSuccess *metav1.Time `json:"lastSuccessfulRun,omitempty"`
	NextRun     *metav1.Time `json:"nextRun,omitempty"`
	Reason      string       `json:"failureReason,omitempty"`
}

func viewDrill(d *cairnv1.RestoreTest) drillRow {
	r := drillRow{Name: d.Name, Phase: core.HumanPhase(d.Status.Phase), Backup: d.Status.BackupName,
		LastRun: d.Status.LastRun, LastSuccess: d.Status.LastSuccessfulRun, NextRun: d.Status.NextRun, Reason: d.Status.FailureReason}
	if d.Status.Duration != nil {
		r.Duration = d.Status.Duration.Duration.String()
	}
	return r
}

// drills is how get and describe show RestoreTests.
var drills = table[cairnv1.RestoreTest, drillRow]{
	kind:   newKind("restore drill", "cairn ctl drill get", false, func(l *cairnv1.RestoreTestList) []cairnv1.RestoreTest { return l.Items }),
	view:   viewDrill,
	header: []any{"NAME", "PHASE", "BACKUP", "DURATION", "LAST SUCCESS", "NEXT RUN"},
	cells: func(r drillRow) []any {
		return []any{r.Name, r.Phase, core.Dash(r.Backup), core.Dash(r.Duration), core.MetaTime(r.LastSuccess), core.MetaTime(r.NextRun)}
	},
}

func describeDrill(w io.Writer, d *cairnv1.RestoreTest, r drillRow) {
	core.Row(w, "Name:", r.Name)
	core.Row(w, "Phase:", r.Phase)
	core.Row(w, "Backup:", core.Dash(r.Backup))
	core.Row(w, "Restore:", core.Dash(d.Status.RestoreName))
	core.Row(w, "Scratch namespaces:", fmt.Sprint(d.Status.Namespaces))
	core.Row(w, "Measured recovery time:", core.Dash(r.Duration))
	core.Row(w, "Last success:", core.MetaTime(r.LastSuccess))
	for _, ck := range d.Status.Checks {
		ok := "passed"
		if !ck.Passed {
			ok = "FAILED"
		}
		core.Row(w, "Check "+ck.Name+":", ok+": "+ck.Message)
	}
	if r.Reason != "" {
		core.Row(w, "Failure:", r.Reason)
	}
	conditions(w, d.Status.Conditions)
}
