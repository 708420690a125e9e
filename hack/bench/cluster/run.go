package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

type config struct {
	counts        []int
	namespaces    int
	workers       int
	createWorkers int
	docs          string
	cpuProfile    string
	keep          bool
	runs          int
	command       string
}

// row is one line of the results table.
type row struct {
	objects              int
	listTime, backupTime time.Duration
	second               time.Duration
	rss                  int64
	repoSize, growth     int64
	items, secondBlobs   int
	listed               int64
	populateTime         time.Duration
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "cairn-bench-cluster-")
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	logf("starting etcd and kube-apiserver in %s", dir)
	c, err := kubetest.StartProcess(filepath.Join(dir, "cluster"),
		kubetest.WithAPIServerFlag("service-cluster-ip-range", "10.96.0.0/12"),
		kubetest.WithAPIServerFlag("max-requests-inflight", "800"),
		kubetest.WithAPIServerFlag("max-mutating-requests-inflight", "400"))
	if err != nil {
		return err
	}
	defer c.Stop()
	admin := *c.Config
	admin.QPS, admin.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(&admin)
	if err != nil {
		return err
	}
	var rows []row
	have := 0
	for _, n := range cfg.counts {
		if n < have {
			continue
		}
		logf("creating objects %d..%d over %d namespaces", have, n, cfg.namespaces)
		took, err := populate(ctx, cs, cfg.namespaces, have, n, cfg.createWorkers)
		if err != nil {
			return err
		}
		have = n
		rw, err := measure(ctx, cfg, c, dir, n)
		if err != nil {
			return err
		}
		rw.populateTime = took
		rows = append(rows, *rw)
		fmt.Print(table(rows[len(rows)-1:], false))
	}
	out := table(rows, true)
	fmt.Print("\n" + out)
	if cfg.docs != "" {
		return appendDocs(cfg, out)
	}
	return nil
}

// measure runs the LIST baseline and two backups into a fresh repository,
// cfg.runs times, and keeps the median of each time.
func measure(ctx context.Context, cfg config, c *kubetest.Cluster, dir string, n int) (*row, error) {
	rw := &row{objects: n}
	var lists, firsts, seconds []time.Duration
	for run := 1; run <= cfg.runs; run++ {
		logf("%d objects, run %d of %d: paginated LISTs", n, run, cfg.runs)
		took, listed, err := listAll(ctx, c.Config, cfg.namespaces, cfg.workers)
		if err != nil {
			return nil, err
		}
		rw.listed = listed
		lists = append(lists, took)
		repoDir := filepath.Join(dir, fmt.Sprintf("repo-%d-%d", n, run))
		s, err := local.New(repoDir)
		if err != nil {
			return nil, err
		}
		r, err := repo.Init(ctx, s, []byte(passphrase), repo.Options{})
		if err != nil {
			return nil, err
		}
		r.Close()
		prof := ""
		if cfg.cpuProfile != "" && run == 1 {
			prof = fmt.Sprintf("%s.%d", cfg.cpuProfile, n)
		}
		logf("%d objects, run %d: first backup", n, run)
		first, err := runChild(ctx, c.Kubeconfig, repoDir, fmt.Sprintf("first-%d", n), cfg.workers, prof)
		if err != nil {
			return nil, err
		}
		if first.Phase != "Completed" {
			return nil, fmt.Errorf("first backup ended %s with %d errors", first.Phase, first.Errors)
		}
		size1, err := dirSize(repoDir)
		if err != nil {
			return nil, err
		}
		logf("%d objects, run %d: second backup (unchanged)", n, run)
		second, err := runChild(ctx, c.Kubeconfig, repoDir, fmt.Sprintf("second-%d", n), cfg.workers, "")
		if err != nil {
			return nil, err
		}
		size2, err := dirSize(repoDir)
		if err != nil {
			return nil, err
		}
		firsts = append(firsts, time.Duration(first.Seconds*float64(time.Second)))
		seconds = append(seconds, time.Duration(second.Seconds*float64(time.Second)))
		rw.rss = max(rw.rss, first.MaxRSS, second.MaxRSS)
		rw.items, rw.secondBlobs = first.Items, max(rw.secondBlobs, int(second.BlobsAdded))
		rw.repoSize, rw.growth = size1, max(rw.growth, size2-size1)
		if !cfg.keep {
			_ = os.RemoveAll(repoDir)
		}
	}
	rw.listTime, rw.backupTime, rw.second = median(lists), median(firsts), median(seconds)
	return rw, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

func table(rows []row, header bool) string {
	var b strings.Builder
	if header {
		b.WriteString("| objects | create | LIST (lower bound) | backup | backup/LIST | peak RSS | 2nd backup | 2nd: new blobs | repo | growth |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	}
	for _, r := range rows {
		ratio := r.backupTime.Seconds() / r.listTime.Seconds()
		growth := 100 * float64(r.growth) / float64(r.repoSize)
		fmt.Fprintf(&b, "| %d (%d stored) | %s | %s | %s | %.2f× %s | %s %s | %s | %d | %s | %.3f%% %s |\n",
			r.objects, r.items, r.populateTime.Round(time.Second), r.listTime.Round(10*time.Millisecond),
			r.backupTime.Round(10*time.Millisecond), ratio, mark(ratio <= 2),
			mib(r.rss), mark(r.objects < 100000 || r.rss <= 300<<20), r.second.Round(10*time.Millisecond),
			r.secondBlobs, mib(r.repoSize), growth, mark(growth <= 1))
	}
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// appendDocs appends the table under the "Cluster resources" heading.
func appendDocs(cfg config, tbl string) error {
	old, err := os.ReadFile(cfg.docs)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var b strings.Builder
	if len(old) == 0 {
		b.WriteString("# Benchmarks\n")
	}
	if !strings.Contains(string(old), "\n## Cluster resources\n") {
		b.WriteString("\n## Cluster resources\n\n")
		b.WriteString("Backup of API resources against its lower bound, paginated LISTs (limit 500) of the same\n")
		b.WriteString("objects from the same local API server with the same parallelism. Targets: backup ≤ 2× LIST,\n")
		b.WriteString("peak RSS ≤ 300 MiB at 100,000 objects, growth of the repository by a second backup of the\n")
		b.WriteString("unchanged cluster ≤ 1%. The control plane (etcd, kube-apiserver) runs on the same machine.\n")
	}
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "\n### %s, %s, %d CPUs, %s\n\n```\n%s\n```\n\n%s", time.Now().Format("2006-01-02 15:04"),
		host, runtime.NumCPU(), runtime.Version(), cfg.command, tbl)
	f, err := os.OpenFile(cfg.docs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
