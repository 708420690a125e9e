package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// Run executes one cairn command line (args without the program name) with
// the given streams and environment, and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
	return a.run(ctx, veleroArgs(args, env))
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err, a.started)
	msg := message(err)
	if !a.started && cmd != nil {
		msg += fmt.Sprintf(" (see `%s --help`)", cmd.CommandPath())
	}
	fmt.Fprintln(a.stderr, "cairn: "+msg)
	return code
}

func (a *app) rootCommand() *cobra.Command {
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
			return a.checkGlobals()
		},
	}
	a.group(root)
	root.CompletionOptions.DisableDefaultCmd = true
	f := root.PersistentFlags()
	f.StringVarP(&a.repoFlag, "repo", "r", "", "repository: a path, file:// URL or s3://bucket/prefix (env CAIRN_REPOSITORY)")
	f.StringVar(&a.passwordFile, "password-file", "", "file holding the passphrase (env CAIRN_PASSWORD_FILE; or env CAIRN_PASSWORD)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	f.BoolVarP(&a.quiet, "quiet", "q", false, "print only results and errors, no summaries or progress")
	f.BoolVar(&a.noProgress, "no-progress", false, "do not show progress")
	f.DurationVar(&a.progressInterval, "progress-interval", 0, "how often progress is shown (default 200ms on a terminal, 10s otherwise)")
	a.addS3Flags(f)
	root.AddCommand(a.repoCommand(), a.fsCommand(), a.snapshotsCommand(), a.lsCommand(), a.forgetCommand(), a.versionCommand())
	root.AddCommand(a.replicateCommand())
	a.addClusterCommands(root) // commands_cluster.go; none in the fsonly build
	return root
}

// checkGlobals validates the global flags before any command runs.
func (a *app) checkGlobals() error {
	switch a.output {
	case "table", "json", "yaml":
	default:
		return badInput("unknown output format %q: use table, json or yaml", a.output)
	}
	if a.progressInterval < 0 {
		return badInput("--progress-interval must not be negative")
	}
	return nil
}
