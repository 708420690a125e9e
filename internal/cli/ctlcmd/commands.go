//go:build !fsonly

package ctlcmd

import (
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// app is the invocation, with this family's commands as its methods.
type app struct{ *core.App }

// Sub makes a subcommand of `cairn ctl` that another family owns, for the
// flags f that every ctl command shares.
type Sub func(c *core.App, f *core.CtlFlags) *cobra.Command

// Command returns `cairn ctl` for invocation c, with the subcommands of
// other families that subs make (e.g. `ctl report`, which shares its flags
// and output with `cairn report`).
func Command(c *core.App, subs ...Sub) *cobra.Command {
	return (&app{c}).ctlCommand(subs)
}
