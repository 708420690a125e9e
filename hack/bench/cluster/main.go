// Command cluster benchmarks the backup of Kubernetes resources against the
// lower bound, plain paginated LISTs of the same objects from the same API
// server. It starts a local control plane (make tools), creates config
// maps and secrets of about 1 KiB plus deployments and services over 50
// namespaces, then for each object count measures, in one run:
//
//   - the time of paginated LISTs of every object (limit 500, the same
//     parallelism as the backup);
//   - backup.Run's time and peak RSS (in a child process run as cmd/cairn
//     runs: GOGC 25; VmHWM of the child);
//   - a second backup of the unchanged cluster, and how much it grew the
//     repository.
//
// It prints a markdown table and appends it, with the command, to
// docs/benchmarks.md under "Cluster resources".
//
//	go run ./hack/bench/cluster -objects 10000,100000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		if err := child(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	objects := flag.String("objects", "10000", "comma-separated object counts, measured in increasing order on one cluster")
	flag.IntVar(&cfg.namespaces, "namespaces", 50, "namespaces the objects are spread over")
	flag.IntVar(&cfg.workers, "workers", 8, "LISTs in flight, for the LIST baseline and the backup")
	flag.IntVar(&cfg.createWorkers, "create-workers", 32, "parallel creates when populating")
	flag.StringVar(&cfg.docs, "docs", "docs/benchmarks.md", "file the results are appended to (\"\" = none)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the first backup's CPU profile here (per object count: <file>.<n>)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the cluster and repository directories")
	flag.IntVar(&cfg.runs, "runs", 3, "measurements per object count (medians are reported; peak RSS and growth are maxima)")
	flag.Parse()
	for _, s := range strings.Split(*objects, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bad -objects entry %q\n", s)
			os.Exit(2)
		}
		cfg.counts = append(cfg.counts, n)
	}
	cfg.command = "go run ./hack/bench/cluster " + strings.Join(os.Args[1:], " ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// firstError keeps the first error reported by concurrent workers.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
