//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
)

func (a *app) ctlDrillCommand(f *core.CtlFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "drill", Short: "Restore drills (RestoreTest): create, get, describe, delete"}
	a.Group(cmd)
	cmd.AddCommand(a.ctlDrillCreateCommand(f), a.ctlDrillGetCommand(f), a.ctlDrillDescribeCommand(f),
		a.ctlDelete(f, "drill", "Delete restore drills (their Restores go with them; restored scratch namespaces are already deleted)", "", "deleted",
			func(m metav1.ObjectMeta) client.Object { return &cairnv1.RestoreTest{ObjectMeta: m} }))
	return cmd
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

func (a *app) ctlDrillGetCommand(f *core.CtlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get",
		Short: "List restore drills: phase, backup, measured recovery time, last success",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			var l cairnv1.RestoreTestList
			if err := c.List(ctx, &l, client.InNamespace(a.Namespace(f))); err != nil {
				return err
			}
			rows := []drillRow{}
			for i := range l.Items {
				rows = append(rows, viewDrill(&l.Items[i]))
			}
			return showList(a, rows, []any{"NAME", "PHASE", "BACKUP", "DURATION", "LAST SUCCESS", "NEXT RUN"}, func(r drillRow) []any {
				return []any{r.Name, r.Phase, core.Dash(r.Backup), core.Dash(r.Duration), core.MetaTime(r.LastSuccess), core.MetaTime(r.NextRun)}
			})
		}),
	}
}

func (a *app) ctlDrillDescribeCommand(f *core.CtlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a restore drill: its checks, scratch namespaces and conditions",
		Args:  core.Args(1, 1, "the drill's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			var d cairnv1.RestoreTest
			if err := a.get(ctx, c, f, args[0], &d, "restore drill", "cairn ctl drill get"); err != nil {
				return err
			}
			r := viewDrill(&d)
			return a.showOne(&d, func(w io.Writer) {
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
				for _, cd := range d.Status.Conditions {
					core.Row(w, "Condition "+cd.Type+":", fmt.Sprintf("%s (%s) %s", cd.Status, cd.Reason, cd.Message))
				}
			})
		}),
	}
}
