package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

func versionCommand(a *core.App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show cairn's version",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(context.Context, []string) error {
			v := core.Version()
			if a.Machine() {
				return a.Emit(v)
			}
			rev := ""
			if v.Revision != "" {
				rev = " " + core.ShortID(v.Revision)
			}
			_, err := a.Stdout.Write([]byte("cairn " + v.Version + rev + " " + v.Go + " " + v.Platform + "\n"))
			return err
		}),
	}
}
