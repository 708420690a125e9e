package backup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/cluster/discover"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Tag is the tag of every cluster backup snapshot.
const Tag = "cluster"

// backup is one run.
type backup struct {
	ctx       context.Context
	r         *repo.Repository
	opts      Options
	l         *lister // applies the selector
	lAll      *lister // does not (namespaces, dependencies)
	selector  labels.Selector
	resources []layout.Resource // discovered; dirKey.res indexes it
	start     time.Time

	// Set by the namespace phase, read-only afterwards.
	namespaces []string        // selected, not opted out, sorted
	selected   map[string]bool // the same as a set
	nsEntries  map[string]entry
	nsMatch    map[string]bool // namespaces whose own labels match the selector
	nsIndex    int             // index of the namespaces type in resources

	mu       sync.Mutex // guards what follows
	col      collector
	deps     deps
	crds     map[string]bool
	skipped  map[string]int
	warnings []string
	errors   []string
	added    int
	bytes    int64
}

// Run backs up the cluster cfg points at into r as one snapshot named
// opts.Name, and returns the saved snapshot and its manifest. When some
// resource types or namespaces could not be listed, the snapshot is saved
// all the same (phase PartiallyFailed) and the error wraps ErrPartial.
// The caller holds a repository lock.
func Run(ctx context.Context, r *repo.Repository, cfg *rest.Config, opts Options) (*snapshot.Snapshot, *layout.Manifest, error) {
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	opts.fill()
	if _, err := Find(ctx, r, opts.Name); err == nil {
		return nil, nil, fmt.Errorf("backup %q: %w", opts.Name, ErrExists)
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return nil, nil, err
	}
	if _, err := r.AdoptOrphans(ctx); err != nil {
		return nil, nil, err
	}
	b := &backup{
		ctx: ctx, r: r, opts: opts, start: opts.Now(),
		col: collector{dirs: map[dirKey][]entry{}}, deps: newDeps(), crds: map[string]bool{}, skipped: map[string]int{},
	}
	b.selector, _ = labels.Parse(opts.Selector)
	statsBefore := r.Stats()
	disc, err := discover.Run(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	b.step("discovered", "types", len(disc.Resources))
	b.resources = disc.Resources
	b.warnings = append(b.warnings, disc.Warnings...)
	rc, err := newRESTClient(cfg, opts.QPS)
	if err != nil {
		return nil, nil, err
	}
	sem := make(chan struct{}, opts.Workers)
	pages := func() { opts.Progress.Lists.Add(1) }
	b.l = &lister{rc: rc, pageSize: opts.PageSize, selector: opts.Selector, sem: sem, pages: pages}
	b.lAll = &lister{rc: rc, pageSize: opts.PageSize, sem: sem, pages: pages}

	if err := b.collect(ctx); err != nil {
		return nil, nil, err
	}
	m := b.manifest(cfg.Host, disc.Version)
	sn, err := b.save(ctx, m, statsBefore)
	if err != nil {
		return nil, nil, err
	}
	if len(m.Errors) > 0 {
		return sn, m, fmt.Errorf("%w: %d list(s) failed (first: %s)", ErrPartial, len(m.Errors), m.Errors[0])
	}
	return sn, m, nil
}

// collect lists everything in three phases: namespaces; then namespaced
// types; then the cluster-scoped types, dependencies (PVs, cluster role
// bindings) before what they in turn need (storage classes, cluster roles,
// CRDs).
func (b *backup) collect(ctx context.Context) error {
	if err := b.listNamespaces(ctx); err != nil {
		return err
	}
	b.step("namespaces listed", "selected", len(b.namespaces))
	// The LIST pages are bounded by the listers' semaphores; the group's
	// jobs are cheap goroutines, and jobs may start jobs.
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range b.resources {
		if !r.Namespaced || neverReason(r) != "" {
			continue
		}
		if ok, _ := b.opts.resourceSelected(r); ok {
			g.Go(func() error { return b.listNamespaced(gctx, g, i) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.step("namespaced types listed")
	b.noteCRDs()
	first := []string{"persistentvolumes", "clusterrolebindings.rbac.authorization.k8s.io"}
	for _, phase := range []func(string) bool{
		func(gr string) bool { return slices.Contains(first, gr) },
		func(gr string) bool { return !slices.Contains(first, gr) && gr != "namespaces" },
	} {
		g, gctx := errgroup.WithContext(ctx)
		for i, r := range b.resources {
			if r.Namespaced || !phase(r.GroupResource()) {
				continue
			}
			list, keep, server := b.clusterType(r)
			if !list {
				continue
			}
			l := b.lAll
			if server {
				l = b.l
			}
			g.Go(func() error { return b.listInto(gctx, l, i, "", keep) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	b.step("cluster-scoped types listed")
	return nil
}

// step logs the end of a step with the time since the start.
func (b *backup) step(msg string, args ...any) {
	b.opts.Log.Debug("backup: "+msg, append(args, "elapsed", b.opts.Now().Sub(b.start).Round(time.Millisecond))...)
}

// noteCRDs records the CRDs of the custom resource types that have stored
// objects (CRD names are <resource>.<group>; built-in types match none).
func (b *backup) noteCRDs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, es := range b.col.dirs {
		if r := b.resources[k.res]; r.Group != "" && len(es) > 0 {
			b.crds[r.Resource+"."+r.Group] = true
		}
	}
}

// commit merges a finished list's batch.
func (b *backup) commit(bt *batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.col.add(bt.dirs)
	for why, n := range bt.skipped {
		b.skipped[why] += n
	}
	b.added += bt.added
	b.deps.merge(bt.deps)
}

func (b *backup) warn(msg string) {
	b.opts.Log.Warn(msg)
	b.mu.Lock()
	b.warnings = append(b.warnings, msg)
	b.mu.Unlock()
}

// hostOf returns the host[:port] of the API server URL.
func hostOf(server string) string {
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
}
