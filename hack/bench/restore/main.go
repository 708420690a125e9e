// Command restore measures cluster restore throughput against its lower
// bound: a plain parallel create of the same objects (16 workers, no
// order), on a real control plane (etcd, kube-apiserver and
// kube-controller-manager, built by `make tools`).
//
//	go run ./hack/bench/restore [-objects 10000] [-namespaces 50] [-runs 1]
//
// Each run creates the objects with the plain creator (in the generated
// order, then again with the Deployments queued last), backs them up with
// package backup (first run only), restores them with restore.Run; the
// namespaces are deleted, and waited for until gone, after each step. It
// prints a markdown table (medians over the runs) for docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"time"
)

func main() {
	objects := flag.Int("objects", 10000, "objects to create (config maps, secrets, deployments, services)")
	namespaces := flag.Int("namespaces", 50, "namespaces to spread them over")
	runs := flag.Int("runs", 1, "runs (alternating plain create and restore)")
	workers := flag.Int("workers", 16, "parallel creates, for both sides")
	flag.StringVar(&kinds, "kinds", "mixed", "mixed (config maps, secrets, deployments, services) or configmaps (1 KiB each)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the first restore's CPU profile (this process: the client side) here")
	flag.BoolVar(&verbose, "v", false, "log the restore's steps (with their times)")
	flag.Parse()
	if kinds != "mixed" && kinds != "configmaps" {
		log.Fatalf("bench: -kinds %q: mixed or configmaps", kinds)
	}
	if err := run(*objects, *namespaces, *runs, *workers); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

func run(objects, namespaces, runs, workers int) (err error) {
	env, err := startCluster()
	if err != nil {
		return err
	}
	defer env.stop()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()

	set := generate(objects, namespaces)
	log.Printf("bench: %d objects in %d namespaces (%d config maps, %d secrets, %d deployments, %d services)",
		len(set.objects), len(set.namespaces), set.counts["ConfigMap"], set.counts["Secret"], set.counts["Deployment"], set.counts["Service"])
	b, err := newBench(ctx, env, workers)
	if err != nil {
		return err
	}
	defer b.close()

	var plain, plainLast, restored []time.Duration
	var restoredItems int
	created := len(set.objects) + len(set.namespaces)
	for i := 0; i < runs; i++ {
		for _, last := range []bool{false, true} {
			d, err := b.plainCreate(ctx, set, last)
			if err != nil {
				return err
			}
			if last {
				plainLast = append(plainLast, d)
			} else {
				plain = append(plain, d)
			}
			log.Printf("bench: run %d: plain create (deployments last: %v) %s (%.0f objects/s)", i+1, last, d.Round(time.Millisecond), rate(created, d))
			if i == 0 && !last {
				if err := b.backup(ctx, set); err != nil {
					return err
				}
			}
			if err := b.deleteNamespaces(ctx, set); err != nil {
				return err
			}
		}
		d, n, err := b.restore(ctx)
		if err != nil {
			return err
		}
		restored, restoredItems = append(restored, d), n
		log.Printf("bench: run %d: restore %s (%d objects created, %.0f objects/s)", i+1, d.Round(time.Millisecond), n, rate(n, d))
		if err := b.deleteNamespaces(ctx, set); err != nil {
			return err
		}
	}
	p, pl, r := median(plain), median(plainLast), median(restored)
	if restoredItems != created {
		log.Printf("bench: warning: restore created %d objects, the plain create %d", restoredItems, created)
	}
	rr := rate(restoredItems, r)
	fmt.Printf("| objects created | namespaces | runs | plain create, 16 workers | plain create, deployments last | restore.Run, 16 workers | restore / plain | restore / plain (deployments last) |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| %d | %d | %d | %.1f s (%.0f obj/s) | %.1f s (%.0f obj/s) | %.1f s (%.0f obj/s) | %.2f× | %.2f× |\n",
		created, len(set.namespaces), runs, p.Seconds(), rate(created, p), pl.Seconds(), rate(created, pl),
		r.Seconds(), rr, rr/rate(created, p), rr/rate(created, pl))
	return nil
}

// kinds and cpuProfile are the flags -kinds and -cpuprofile.
var (
	kinds, cpuProfile string
	verbose           bool
)

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func init() { log.SetOutput(os.Stderr) }
