package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// childArg runs one backup in a child process, so that its peak RSS can be
// read from rusage apart from the benchmark's own memory.
const childArg = "-backup-child"

const passphrase = "bench-passphrase"

// result is what the child reports on stdout.
type result struct {
	Seconds     float64 `json:"seconds"`
	Items       int     `json:"items"`
	BlobsAdded  int64   `json:"blobs_added"`
	StoredAdded int64   `json:"stored_added"`
	Phase       string  `json:"phase"`
	Errors      int     `json:"errors"`
	// MaxRSS is the child's peak RSS in bytes, from VmHWM in
	// /proc/self/status. rusage's ru_maxrss is no good here: a child
	// started by fork/exec (CLONE_VM) inherits the parent's high-water mark.
	MaxRSS int64 `json:"max_rss"`
}

func child(args []string) error {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "")
	repoDir := fs.String("repo", "", "")
	name := fs.String("name", "", "")
	workers := fs.Int("workers", 8, "")
	cpuProfile := fs.String("cpuprofile", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	ctx := context.Background()
	s, err := local.New(*repoDir)
	if err != nil {
		return err
	}
	// Run as cmd/cairn and the CLI do: GOGC 25, the key derivation's
	// memory returned after open.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	r, err := repo.Open(ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	debug.FreeOSMemory()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	begin := time.Now()
	var log *slog.Logger
	if os.Getenv("BENCH_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sn, m, err := backup.Run(ctx, r, cfg, backup.Options{Name: *name, Workers: *workers, Log: log})
	if err != nil {
		return err
	}
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	took := time.Since(begin)
	rss, err := peakRSS()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result{
		Seconds: took.Seconds(), Items: m.Items, Phase: m.Phase, Errors: len(m.Errors),
		BlobsAdded: sn.Summary.BlobsAdded, StoredAdded: sn.Summary.StoredAdded, MaxRSS: rss,
	})
}

// runChild runs one backup in a child process and returns its result with
// its peak RSS.
func runChild(ctx context.Context, kubeconfig, repoDir, name string, workers int, cpuProfile string) (*result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, childArg, "-kubeconfig", kubeconfig, "-repo", repoDir, "-name", name,
		"-workers", fmt.Sprint(workers), "-cpuprofile", cpuProfile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("backup %s: output %q: %w", name, out, err)
	}
	return &res, nil
}

// peakRSS reads this process's peak resident set size (VmHWM).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
