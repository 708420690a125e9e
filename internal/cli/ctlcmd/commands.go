//go:build !fsonly

package ctlcmd

import (
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// app is the invocation, with this family's commands as its methods.
type app struct{ *core.App }

// Command returns `cairn ctl` for invocation c.
func Command(c *core.App) *cobra.Command {
	return (&app{c}).ctlCommand()
}
