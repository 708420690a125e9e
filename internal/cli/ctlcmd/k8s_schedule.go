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

func (a *app) ctlScheduleCommand(f *core.CtlFlags) *cobra.Command {
	return a.family("schedule", "Backup schedules: create, get, describe, pause, unpause, delete",
		a.ctlScheduleCreateCommand(f),
		a.getCommand(f, "", "List Schedules: cron, phase, last backup, last success, next run", schedules.list(a, nil, nil), nil),
		a.describeCommand(f, "the schedule's name", "Show a Schedule and its conditions",
			schedules.describe(a, describeSchedule, nil), nil),
		a.ctlSchedulePauseCommand(f, "pause", true), a.ctlSchedulePauseCommand(f, "unpause", false), a.ctlScheduleDeleteCommand(f))
}

func (a *app) ctlScheduleCreateCommand(f *core.CtlFlags) *cobra.Command {
	var o backupSpecFlags
	var schedule string
	var paused bool
	var keep cairnv1.ScheduleRetention
	cmd := &cobra.Command{
		Use:   "create NAME --schedule CRON",
		Short: "Create a Schedule: a Backup named NAME-<UTC time> at each run",
		Long: `Create a Schedule. --schedule is a cron expression in UTC: five fields
("0 0 * * *") or @daily, @hourly, @weekly, @every 6h. The controller never
runs two backups of one schedule at once, and after downtime catches up at
most one missed run. --ttl sets how long each backup is kept; or keep them
by the calendar instead: --keep-daily N keeps the first backup of each day N
days, --keep-weekly, --keep-monthly and --keep-yearly the first of each ISO
week, month and year (each backup's expiry is decided when it is made, so
that object lock holds it from its first byte; its label
cairn.dev/retention-rule says which rule keeps it).`,
		Args: core.Args(1, 1, "the schedule's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			if schedule == "" {
				return core.BadInput("--schedule is required (e.g. \"0 0 * * *\" or @daily)")
			}
			spec, err := o.spec()
			if err != nil {
				return err
			}
			var retention *cairnv1.ScheduleRetention
			if keep != (cairnv1.ScheduleRetention{}) {
				if keep.KeepDaily < 0 || keep.KeepWeekly < 0 || keep.KeepMonthly < 0 || keep.KeepYearly < 0 {
					return core.BadInput("--keep-daily, --keep-weekly, --keep-monthly and --keep-yearly count periods: 0 or more")
				}
				if spec.TTL != nil {
					return core.BadInput("--ttl keeps every backup as long; --keep-* keep them by the calendar: give one or the other")
				}
				retention = &keep
			}
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			s := &cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: a.Namespace(f)},
				Spec: cairnv1.ScheduleSpec{Schedule: schedule, Template: spec, Paused: paused, Retention: retention}}
			if err := c.Create(ctx, s); err != nil {
				return fmt.Errorf("create schedule %s: %w", args[0], err)
			}
			a.Say("schedule %s created (%s)", args[0], schedule)
			return nil
		}),
	}
	o.register(cmd)
	cmd.Flags().StringVar(&schedule, "schedule", "", "cron expression in UTC (5 fields, or @daily, @every 6h, …)")
	cmd.Flags().BoolVar(&paused, "paused", false, "create it paused")
	cmd.Flags().Int32Var(&keep.KeepDaily, "keep-daily", 0, "keep the first backup of each day `N` days (instead of --ttl)")
	cmd.Flags().Int32Var(&keep.KeepWeekly, "keep-weekly", 0, "keep the first backup of each ISO week `N` weeks")
	cmd.Flags().Int32Var(&keep.KeepMonthly, "keep-monthly", 0, "keep the first backup of each month `N` months")
	cmd.Flags().Int32Var(&keep.KeepYearly, "keep-yearly", 0, "keep the first backup of each year `N` years")
	return cmd
}

type scheduleRow struct {
	Name           string       `json:"name"`
	Schedule       string       `json:"schedule"`
	Phase          string       `json:"phase"`
	Paused         bool         `json:"paused"`
	LastBackup     *metav1.Time `json:"lastBackup,omitempty"`
	LastSuccessful *metav1.Time `json:"lastSuccessfulBackup,omitempty"`
	NextRun        *metav1.Time `json:"nextRun,omitempty"`
	TTL            string       `json:"ttl,omitempty"`
}

func viewScheduleCR(s *cairnv1.Schedule) scheduleRow {
	r := scheduleRow{Name: s.Name, Schedule: s.Spec.Schedule, Phase: string(s.Status.Phase), Paused: s.Spec.Paused,
		LastBackup: s.Status.LastBackup, LastSuccessful: s.Status.LastSuccessfulBackup, NextRun: s.Status.NextRun}
	if r.Phase == "" {
		r.Phase = "New"
	}
	if s.Spec.Template.TTL != nil {
		r.TTL = s.Spec.Template.TTL.Duration.String()
	}
	if p := s.Spec.Retention; p != nil {
		r.TTL = fmt.Sprintf("calendar: %dd %dw %dm %dy", p.KeepDaily, p.KeepWeekly, p.KeepMonthly, p.KeepYearly)
	}
	return r
}

// schedules is how get and describe show Schedules.
var schedules = table[cairnv1.Schedule, scheduleRow]{
	kind:   newKind("schedule", "cairn ctl schedule get", false, func(l *cairnv1.ScheduleList) []cairnv1.Schedule { return l.Items }),
	view:   viewScheduleCR,
	header: []any{"NAME", "SCHEDULE", "PHASE", "TTL", "LAST BACKUP", "LAST SUCCESS", "NEXT RUN"},
	cells: func(r scheduleRow) []any {
		return []any{r.Name, r.Schedule, r.Phase, core.Dash(r.TTL), core.MetaTime(r.LastBackup), core.MetaTime(r.LastSuccessful), core.MetaTime(r.NextRun)}
	},
}

func describeSchedule(w io.Writer, s *cairnv1.Schedule, r scheduleRow) {
	core.Row(w, "Name:", r.Name)
	core.Row(w, "Schedule:", r.Schedule)
	core.Row(w, "Phase:", r.Phase)
	core.Row(w, "TTL:", core.Dash(r.TTL))
	core.Row(w, "Last backup:", fmt.Sprintf("%s %s", core.MetaTime(r.LastBackup), s.Status.LastBackupName))
	core.Row(w, "Last success:", fmt.Sprintf("%s %s", core.MetaTime(r.LastSuccessful), s.Status.LastSuccessfulBackupName))
	core.Row(w, "Next run:", core.MetaTime(r.NextRun))
	conditions(w, s.Status.Conditions)
}

func (a *app) ctlSchedulePauseCommand(f *core.CtlFlags, verb string, pause bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME...",
		Short: map[bool]string{true: "Pause Schedules: no backups until unpaused", false: "Unpause Schedules (one run missed while paused is caught up)"}[pause],
		Args:  core.Args(1, -1, "schedule names"),
		RunE: a.RunE(func(ctx context.Context, names []string) error {
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			for _, n := range names {
				s, err := schedules.get(ctx, c, a.Namespace(f), n)
				if err != nil {
					return err
				}
				patch := client.MergeFrom(s.DeepCopy())
				s.Spec.Paused = pause
				if err := c.Patch(ctx, s, patch); err != nil {
					return fmt.Errorf("%s schedule %s: %w", verb, n, err)
				}
				a.Say("schedule %s %sd", n, verb)
			}
			return nil
		}),
	}
}
