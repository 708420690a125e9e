package cli

import (
	"context"

	"github.com/spf13/cobra"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show cairn's version",
		Args:  args(0, 0, "no arguments"),
		RunE: a.runE(func(context.Context, []string) error {
			v := version()
			if a.machine() {
				return a.emit(v)
			}
			rev := ""
			if v.Revision != "" {
				rev = " " + shortID(v.Revision)
			}
			_, err := a.stdout.Write([]byte("cairn " + v.Version + rev + " " + v.Go + " " + v.Platform + "\n"))
			return err
		}),
	}
}
