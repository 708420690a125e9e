package core

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// App is one invocation: its streams, environment, clock and global flags.
type App struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            func(string) string
	Now            func() time.Time
	WaitPoll       time.Duration // how often --wait looks at the object (default a second)

	RepoFlag         string
	PasswordFile     string
	Output           string
	Quiet            bool
	NoProgress       bool
	ProgressInterval time.Duration
	S3               s3Flags // s3flags.go

	// Started is set when a command's own code begins to run: an error
	// before that (flags, arguments) is bad usage.
	Started bool
}

// RunE adapts a command's code to cobra and records that it started.
func (a *App) RunE(fn func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.Started = true
		return fn(cmd.Context(), args)
	}
}

// Group makes cmd a command that only holds subcommands: run alone or with
// an unknown subcommand it is bad usage.
func (a *App) Group(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q (one of: %s)", args[0], c.CommandPath(), strings.Join(names, ", "))
		}
		return fmt.Errorf("%s needs a command (one of: %s)", c.CommandPath(), strings.Join(names, ", "))
	}
}

// Args returns an argument check that reports bad usage in cairn's words.
func Args(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return fmt.Errorf("missing argument: %s", what)
		case max >= 0 && len(args) > max:
			return fmt.Errorf("too many arguments: expected %s, got %q", what, args)
		}
		return nil
	}
}
