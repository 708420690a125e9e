// Command cairn is the cairn command line: backups and restores into an
// encrypted, deduplicating repository. Everything it does is in
// internal/cli; this main only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairn-backup/cairn/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the work, which then stops
	// cleanly (locks released); a second one kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
