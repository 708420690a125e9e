//go:build !fsonly

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

func (a *app) ctlDrillCommand(f *ctlFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "drill", Short: "Restore drills (RestoreTest): create, get, describe, delete"}
	a.group(cmd)
	cmd.AddCommand(a.ctlDrillCreateCommand(f), a.ctlDrillGetCommand(f), a.ctlDrillDescribeCommand(f),
		a.ctlDelete(f, "drill", "Delete restore drills (their Restores go with them; restored scratch namespaces are already deleted)", "", "deleted",
			func(m metav1.ObjectMeta) client.Object { return &cairnv1.RestoreTest{ObjectMeta: m} }))
	return cmd
}

func (a *app) ctlDrillCreateCommand(f *ctlFlags) *cobra.Command {
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
		Args: args(1, 1, "the drill's name"),
		RunE: a.runE(func(ctx context.Context, args []string) error {
			if (fromSchedule == "") == (fromBackup == "") {
				return badInput("give one of --from-schedule and --from-backup")
			}
			c, err := a.kubeClient(f)
			if err != nil {
				return err
			}
			d := &cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: a.ns(f)},
				Spec: cairnv1.RestoreTestSpec{ScheduleName: fromSchedule, BackupName: fromBackup, Schedule: schedule}}
			if err := c.Create(ctx, d); err != nil {
				return fmt.Errorf("create restore drill %s: %w", args[0], err)
			}
			a.say("restore drill %s created", args[0])
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
	r := drillRow{Name: d.Name, Phase: humanPhase(d.Status.Phase), Backup: d.Status.BackupName,
		LastRun: d.Status.LastRun, LastSuccess: d.Status.LastSuccessfulRun, NextRun: d.Status.NextRun, Reason: d.Status.FailureReason}
	if d.Status.Duration != nil {
		r.Duration = d.Status.Duration.Duration.String()
	}
	return r
}

func (a *app) ctlDrillGetCommand(f *ctlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get",
		Short: "List restore drills: phase, backup, measured recovery time, last success",
		Args:  args(0, 0, "no arguments"),
		RunE: a.runE(func(ctx context.Context, _ []string) error {
			c, err := a.kubeClient(f)
			if err != nil {
				return err
			}
			var l cairnv1.RestoreTestList
			if err := c.List(ctx, &l, client.InNamespace(a.ns(f))); err != nil {
				return err
			}
			rows := []drillRow{}
			for i := range l.Items {
				rows = append(rows, viewDrill(&l.Items[i]))
			}
			if a.machine() {
				return a.emit(rows)
			}
			w := a.table()
			row(w, "NAME", "PHASE", "BACKUP", "DURATION", "LAST SUCCESS", "NEXT RUN")
			for _, r := range rows {
				row(w, r.Name, r.Phase, dash(r.Backup), dash(r.Duration), metaTime(r.LastSuccess), metaTime(r.NextRun))
			}
			return w.Flush()
		}),
	}
}

func (a *app) ctlDrillDescribeCommand(f *ctlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a restore drill: its checks, scratch namespaces and conditions",
		Args:  args(1, 1, "the drill's name"),
		RunE: a.runE(func(ctx context.Context, args []string) error {
			c, err := a.kubeClient(f)
			if err != nil {
				return err
			}
			var d cairnv1.RestoreTest
			if err := c.Get(ctx, client.ObjectKey{Namespace: a.ns(f), Name: args[0]}, &d); err != nil {
				return notFound(err, "restore drill", args[0], "cairn ctl drill get")
			}
			if a.machine() {
				return a.emit(&d)
			}
			r := viewDrill(&d)
			w := a.table()
			row(w, "Name:", r.Name)
			row(w, "Phase:", r.Phase)
			row(w, "Backup:", dash(r.Backup))
			row(w, "Restore:", dash(d.Status.RestoreName))
			row(w, "Scratch namespaces:", fmt.Sprint(d.Status.Namespaces))
			row(w, "Measured recovery time:", dash(r.Duration))
			row(w, "Last success:", metaTime(r.LastSuccess))
			for _, ck := range d.Status.Checks {
				ok := "passed"
				if !ck.Passed {
					ok = "FAILED"
				}
				row(w, "Check "+ck.Name+":", ok+": "+ck.Message)
			}
			if r.Reason != "" {
				row(w, "Failure:", r.Reason)
			}
			for _, cd := range d.Status.Conditions {
				row(w, "Condition "+cd.Type+":", fmt.Sprintf("%s (%s) %s", cd.Status, cd.Reason, cd.Message))
			}
			return w.Flush()
		}),
	}
}
