//go:build !fsonly

package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/clustercmd"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cli/ctlcmd"
	clusterbackup "github.com/cairn-backup/cairn/internal/cluster/backup"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/velero"
)

// addClusterCommands adds the commands that talk to Kubernetes: cluster
// backups and restores, the controller's resources, erasure and reports.
// The fsonly build (commands_fsonly.go) leaves them out, and with them the
// Kubernetes libraries.
func addClusterCommands(a *core.App, root *cobra.Command) {
	root.AddCommand(clustercmd.Commands(a)...)
	root.AddCommand(ctlcmd.Command(a, clustercmd.CtlReportCommand))
}

// isClusterPartial reports a cluster backup or restore that finished with
// some objects failed (exit 3).
func isClusterPartial(err error) bool {
	return errors.Is(err, clusterrestore.ErrPartial) || errors.Is(err, clusterbackup.ErrPartial) || errors.Is(err, velero.ErrPartial)
}

// clusterAdvice is message's advice for the errors of the cluster
// commands' packages ("" for others).
func clusterAdvice(err error) string {
	if errors.Is(err, erase.ErrUnreadable) {
		return " (run `cairn repo check`)"
	}
	return ""
}
