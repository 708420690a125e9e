package fscmd

import (
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// app is the invocation, with this family's commands as its methods.
type app struct{ *core.App }

// Commands returns the family's top-level commands for invocation c.
func Commands(c *core.App) []*cobra.Command {
	a := &app{c}
	return []*cobra.Command{a.repoCommand(), a.fsCommand(), a.snapshotsCommand(), a.lsCommand(), a.forgetCommand(), a.replicateCommand()}
}
