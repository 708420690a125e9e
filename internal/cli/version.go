package cli

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is the output of `version`.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// version reads the version from the binary's build information.
func version() versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v.Revision = s.Value
		}
	}
	return v
}

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
