package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

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
	// CAIRN_HEAPPEAK=FILE writes the in-use heap profile each time the
	// live heap reaches a new high (checked every 100 ms): what holds the
	// memory at the peak, for benchmarks.
	if path := os.Getenv("CAIRN_HEAPPEAK"); path != "" {
		go heapPeak(ctx, path)
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

// heapPeak rewrites path with the heap profile whenever the live heap
// after a collection is larger than every earlier one, until ctx ends.
func heapPeak(ctx context.Context, path string) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak+peak/50 {
			peak = v
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
