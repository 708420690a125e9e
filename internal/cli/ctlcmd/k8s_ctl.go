//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
)

// ctlCommand is `cairn ctl`: Velero's verbs on the custom resources that
// cairn-controller reconciles. The standalone commands (`cairn backup run`,
// `cairn restore run`) work without a controller; these need one.
func (a *app) ctlCommand(subs []Sub) *cobra.Command {
	f := &core.CtlFlags{}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Drive cairn-controller in a cluster: backups, restores, schedules (Velero's verbs)",
		Long: `Create and inspect the Backup, Restore, Schedule and BackupLocation objects
that cairn-controller reconciles, with Velero's verbs: a Velero runbook
translates by replacing "velero" with "cairn ctl", e.g.

  cairn ctl restore create --from-schedule daily-backup --wait

--wait exits 0 when the work completed, 3 when it partially failed and 1
when it failed, and prints the reason (Velero exits 0 in all three cases).

The objects live in --namespace (env CAIRN_NAMESPACE, default
cairn-system), the controller's namespace.

` + selfServiceHelp,
	}
	a.Group(cmd)
	pf := cmd.PersistentFlags()
	f.Kube.Register(pf)
	pf.StringVarP(&f.Namespace, "namespace", "n", "", "the controller's namespace (env CAIRN_NAMESPACE, default cairn-system), or your own (self-service)")
	cmd.AddCommand(a.ctlBackupCommand(f), a.ctlRestoreCommand(f), a.ctlScheduleCommand(f), a.ctlLocationCommand(f), a.ctlDrillCommand(f))
	for _, sub := range subs {
		cmd.AddCommand(sub(a.App, f))
	}
	return cmd
}

// waitPhase polls get until the phase is final, printing each phase it
// sees, and returns the error that gives the exit code: nil for
// Completed, one wrapping partial for PartiallyFailed (exit 3), a plain
// one for Failed (exit 1).
func (a *app) waitPhase(ctx context.Context, what string, partial error, get func() (cairnv1.Phase, string, error)) error {
	var last cairnv1.Phase = "-"
	poll := a.WaitPoll
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		phase, reason, err := get()
		if err != nil {
			return err
		}
		if phase != last {
			shown := phase
			if shown == "" {
				shown = cairnv1.PhaseNew
			}
			a.Say("%s: %s", what, shown)
			last = phase
		}
		switch phase {
		case cairnv1.PhaseCompleted:
			return nil
		case cairnv1.PhasePartiallyFailed:
			return fmt.Errorf("%s partially failed: %s: %w", what, reason, partial)
		case cairnv1.PhaseFailed:
			return fmt.Errorf("%s failed: %s", what, reason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// errPartialBackup and errPartialRestore are what a partial failure seen
// with --wait wraps (exit code 3).
var (
	errPartialBackup  = backup.ErrPartial
	errPartialRestore = clusterrestore.ErrPartial
)
