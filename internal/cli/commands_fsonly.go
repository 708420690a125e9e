//go:build fsonly

package cli

import (
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// The fsonly build (`make build-fs`, bin/cairn-fs) has the commands for
// directories and repositories only: it links none of the Kubernetes
// libraries, whose initialisation and code pages every command of the full
// build pays for (docs/benchmarks.md, issue 15).
func addClusterCommands(*core.App, *cobra.Command) {}

func isClusterPartial(error) bool { return false }

func clusterAdvice(error) string { return "" }
