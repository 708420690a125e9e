//go:build !fsonly

package clustercmd

import (
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// app is the invocation, with this family's commands as its methods.
type app struct{ *core.App }

// Commands returns the family's top-level commands for invocation c.
func Commands(c *core.App) []*cobra.Command {
	a := &app{c}
	return []*cobra.Command{a.clusterRestoreCommand(), a.clusterBackupCommand(), a.eraseCommand(), a.reportCommand(), a.importCommand()}
}

// CtlReportCommand is `cairn ctl report` (report.go), for the ctl
// family's flags f.
func CtlReportCommand(c *core.App, f *core.CtlFlags) *cobra.Command {
	return (&app{c}).ctlReportCommand(f)
}
