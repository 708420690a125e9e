package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cli/fscmd"
)

// Run executes one cairn command line (args without the program name) with
// the given streams and environment, and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	a := &core.App{Stdin: stdin, Stdout: stdout, Stderr: stderr, Env: env, Now: time.Now}
	return run(ctx, a, veleroArgs(args, env))
}

// run executes args in the invocation a.
func run(ctx context.Context, a *core.App, args []string) int {
	root := rootCommand(a)
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err, a.Started)
	msg := message(err)
	if !a.Started && cmd != nil {
		msg += fmt.Sprintf(" (see `%s --help`)", cmd.CommandPath())
	}
	fmt.Fprintln(a.Stderr, "cairn: "+msg)
	return code
}

// rootCommand is the command tree: the global flags, the families of
// commands (fscmd; in the full build clustercmd and ctlcmd) and version.
func rootCommand(a *core.App) *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Encrypted, deduplicating backups of Kubernetes clusters and directories",
		Long: `cairn backs up Kubernetes clusters (resources: backup, restore; in a
cluster with the controller: ctl) and directories (fs) into an encrypted,
deduplicating repository, and restores them without overwriting what exists.

The repository is --repo or CAIRN_REPOSITORY: a path, a file:// URL, or
s3://bucket/prefix (see the --s3-* flags).
The passphrase comes from --password-file, CAIRN_PASSWORD_FILE or
CAIRN_PASSWORD (or a prompt on a terminal); there is no default.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return checkGlobals(a)
		},
	}
	a.Group(root)
	root.CompletionOptions.DisableDefaultCmd = true
	f := root.PersistentFlags()
	f.StringVarP(&a.RepoFlag, "repo", "r", "", "repository: a path, file:// URL or s3://bucket/prefix (env CAIRN_REPOSITORY)")
	f.StringVar(&a.PasswordFile, "password-file", "", "file holding the passphrase (env CAIRN_PASSWORD_FILE; or env CAIRN_PASSWORD)")
	f.StringVarP(&a.Output, "output", "o", "table", "output format: table, json or yaml")
	f.BoolVarP(&a.Quiet, "quiet", "q", false, "print only results and errors, no summaries or progress")
	f.BoolVar(&a.NoProgress, "no-progress", false, "do not show progress")
	f.DurationVar(&a.ProgressInterval, "progress-interval", 0, "how often progress is shown (default 200ms on a terminal, 10s otherwise)")
	a.AddS3Flags(f)
	root.AddCommand(fscmd.Commands(a)...)
	root.AddCommand(versionCommand(a))
	addClusterCommands(a, root) // commands_cluster.go; none in the fsonly build
	return root
}

// checkGlobals validates the global flags before any command runs.
func checkGlobals(a *core.App) error {
	switch a.Output {
	case "table", "json", "yaml":
	default:
		return core.BadInput("unknown output format %q: use table, json or yaml", a.Output)
	}
	if a.ProgressInterval < 0 {
		return core.BadInput("--progress-interval must not be negative")
	}
	return nil
}
