package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/cairn-backup/cairn/internal/cli"
)

func main() {
	// Nearly all of cairn's heap is pointer-free buffers (chunks, packs),
	// which the collector does not scan: collecting often costs little and
	// keeps peak memory close to what is live (the index is pointer-free
	// too). 10 rather than 25 took 11 MiB off a first backup's peak of the
	// real-data tree for no measurable CPU (docs/benchmarks.md, issue 15).
	// GOGC still overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(10)
	}
	// The first SIGINT or SIGTERM cancels the work, which then stops
	// cleanly (locks released); a second one kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	// CAIRN_CPUPROFILE=FILE writes a CPU profile (for benchmarks).
	if path := os.Getenv("CAIRN_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
			}
		}
	}
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	pprof.StopCPUProfile()
	// CAIRN_MEMPROFILE=FILE writes a heap profile at exit (its alloc_space
	// view: where the command allocated, for benchmarks).
	if path := os.Getenv("CAIRN_MEMPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	stop()
	os.Exit(code)
}
