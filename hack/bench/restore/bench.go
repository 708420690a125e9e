package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

type bench struct {
	c       *cluster
	cfg     *rest.Config // the same client settings for both sides
	dyn     *dynamic.DynamicClient
	workers int
	repoDir string
	r       *repo.Repository
	sn      *snapshot.Snapshot
}

func newBench(ctx context.Context, c *cluster, workers int) (*bench, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: the server is the bound
	cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cairn-bench-repo-")
	if err != nil {
		return nil, err
	}
	st, err := local.New(dir)
	if err != nil {
		return nil, err
	}
	r, err := repo.Init(ctx, st, []byte("bench"), repo.Options{})
	if err != nil {
		return nil, err
	}
	return &bench{c: c, cfg: cfg, dyn: dyn, workers: workers, repoDir: dir, r: r}, nil
}

func (b *bench) close() {
	b.r.Close()
	_ = os.RemoveAll(b.repoDir)
}

// plainCreate is the lower bound: the namespaces, then every object at
// once with the workers, no order and no checks. With deploymentsLast the
// Deployments are queued after the other objects (still no barrier), so
// that the controllers' work (ReplicaSets, Pods) competes as little as in
// the restore, which creates workloads last.
func (b *bench) plainCreate(ctx context.Context, s *objectSet, deploymentsLast bool) (time.Duration, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.workers)
	for _, ns := range s.namespaces {
		g.Go(func() error {
			_, err := b.dyn.Resource(nsGVR).Create(gctx, mk("v1", "Namespace", "", ns, nil), metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("plain create: %w", err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(b.workers)
	objects := s.objects
	if deploymentsLast {
		objects = nil
		for _, o := range s.objects {
			if o.gvr != deployGVR {
				objects = append(objects, o)
			}
		}
		for _, o := range s.objects {
			if o.gvr == deployGVR {
				objects = append(objects, o)
			}
		}
	}
	for _, o := range objects {
		g.Go(func() error {
			obj := o.obj.DeepCopy()
			_, err := b.dyn.Resource(o.gvr).Namespace(obj.GetNamespace()).Create(gctx, obj, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("plain create: %w", err)
	}
	return time.Since(start), nil
}

func (b *bench) backup(ctx context.Context, s *objectSet) error {
	start := time.Now()
	sn, m, err := backup.Run(ctx, b.r, b.c.Config, backup.Options{Name: "bench", IncludeNamespaces: s.namespaces})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.sn = sn
	log.Printf("bench: backup of %d objects in %s", m.Items, time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *bench) restore(ctx context.Context) (time.Duration, int, error) {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return 0, 0, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, 0, err
		}
		defer func() { pprof.StopCPUProfile(); f.Close(); cpuProfile = "" }()
	}
	start := time.Now()
	var lg *slog.Logger
	if verbose {
		lg = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rep, err := restore.Run(ctx, b.r, b.sn, b.cfg, restore.Options{Workers: b.workers, Log: lg})
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("restore: %w", err)
	}
	log.Printf("bench: restore totals %+v", rep.Totals)
	return d, rep.Totals.Created, nil
}

// deleteNamespaces deletes the namespaces and waits until they are gone
// (the controller manager empties them).
func (b *bench) deleteNamespaces(ctx context.Context, s *objectSet) error {
	start := time.Now()
	for _, ns := range s.namespaces {
		if err := b.dyn.Resource(nsGVR).Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for {
		list, err := b.dyn.Resource(nsGVR).List(ctx, metav1.ListOptions{LabelSelector: ""})
		if err != nil {
			return err
		}
		left := 0
		for _, ns := range list.Items {
			if isBench(ns) {
				left++
			}
		}
		if left == 0 {
			log.Printf("bench: namespaces deleted in %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("%d namespaces still there after 15 minutes", left)
		}
		time.Sleep(time.Second)
	}
}

func isBench(ns unstructured.Unstructured) bool {
	n := ns.GetName()
	return len(n) > 6 && n[:6] == "bench-"
}
