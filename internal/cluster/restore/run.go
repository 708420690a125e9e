package restore

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// restorer is one restore in progress.
type restorer struct {
	r   *repo.Repository
	o   *Options
	dyn dynamic.Interface
	// creator creates: it asks for the created object's metadata only
	// (PartialObjectMetadata), all a create's answer is used for, so that
	// neither the API server nor this process encodes and decodes the
	// whole object a second time.
	creator dynamic.Interface
	disc    discovery.DiscoveryInterface
	// mapper maps kinds to resources for owners outside the backup's
	// manifest; reset once restored CRDs are served.
	mapper *restmapper.DeferredDiscoveryRESTMapper
	rep    *Report

	backupName, restoreName string
	backupLabel             string                     // backupName as a label value
	resources               map[string]layout.Resource // by "group/Kind"
	owners                  *owners
	selectorServices        map[string]bool // "ns/name" of services with a selector (backup namespaces)

	mu            sync.Mutex
	newNamespaces map[string]bool // dry run: namespaces that would be created
	newCRDs       map[string]bool // dry run: CRDs that would be created
}

// Run restores the cluster backup sn into the cluster cfg points at. It
// returns the report even on error; the error wraps ErrPartial when some
// objects failed and others were restored, ErrFailed when nothing could be
// restored or the restore could not run, and ErrOptions for invalid
// options.
func Run(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, cfg *rest.Config, opts Options) (*Report, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	rep := &Report{Snapshot: sn.ID, DryRun: opts.DryRun, Start: opts.Now().UTC(), Items: []Item{}}
	x := &restorer{r: r, o: &opts, rep: rep, newNamespaces: map[string]bool{}, newCRDs: map[string]bool{}}
	err := x.run(ctx, sn, cfg)
	rep.finish(opts.Now().UTC(), err)
	switch {
	case err != nil:
		return rep, fmt.Errorf("restore %s: %w: %w", rep.Name, ErrFailed, err)
	case rep.Phase == layout.PhaseFailed:
		return rep, fmt.Errorf("restore %s: %d objects failed, none restored: %w", rep.Name, rep.Totals.Failed, ErrFailed)
	case rep.Phase == layout.PhasePartiallyFailed:
		return rep, fmt.Errorf("restore %s: %d objects failed: %w", rep.Name, rep.Totals.Failed, ErrPartial)
	}
	return rep, nil
}

func (x *restorer) run(ctx context.Context, sn *snapshot.Snapshot, cfg *rest.Config) error {
	m, err := readManifest(ctx, x.r, sn)
	if err != nil {
		return err
	}
	x.backupName = sn.Labels[layout.LabelBackup]
	if x.backupName == "" {
		x.backupName = m.Name
	}
	x.restoreName = x.o.Name
	if x.restoreName == "" {
		x.restoreName = labelValue(x.backupName + "-" + x.o.Now().UTC().Format("20060102150405"))
	}
	x.rep.Name, x.rep.Backup = x.restoreName, x.backupName
	x.backupLabel = x.backupName
	if len(validation.IsValidLabelValue(x.backupName)) > 0 {
		x.backupLabel = labelValue(x.backupName)
		x.rep.warn(fmt.Sprintf("backup name %q is not a valid label value: objects are labelled %s=%s", x.backupName, LabelBackup, x.backupLabel))
	}
	x.resources = map[string]layout.Resource{}
	for _, res := range m.Resources {
		x.resources[res.Group+"/"+res.Kind] = res
	}
	if err := x.connect(cfg); err != nil {
		return err
	}

	entries, err := listEntries(ctx, x.r, sn, x.rep.warn)
	if err != nil {
		return err
	}
	entries, err = readMeta(ctx, x.r, entries, x.o.Workers, x.failUnread)
	if err != nil {
		return err
	}
	sel, err := newSelection(x.o)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOptions, err)
	}
	sel.warn = x.rep.warn
	sel.apply(entries)
	groups := x.order(entries)
	if x.o.Progress != nil {
		n := 0
		for _, g := range groups {
			n += len(g)
		}
		x.o.Progress.Total.Store(int64(n))
	}
	for rank, group := range groups {
		if len(group) == 0 {
			continue
		}
		x.o.Log.Info("restoring", "group", rankNames[rank], "objects", len(group))
		if err := x.restoreGroup(ctx, group); err != nil {
			return err
		}
		if rank == rankCRD && !x.o.DryRun {
			var names []string
			for _, e := range group {
				if st, ok := x.owners.state(e.uid); !ok || st.present {
					names = append(names, e.ref.Name)
				}
			}
			if err := x.waitCRDs(ctx, names); err != nil {
				return err
			}
			x.mapper.Reset()
		}
		x.resolvePending(ctx, false)
	}
	x.resolvePending(ctx, true)
	return ctx.Err()
}

// connect makes the clients: one HTTP client shared by the dynamic and
// discovery clients, JSON, and a high rate limit.
func (x *restorer) connect(cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst, c.RateLimiter = x.o.QPS, x.o.Burst, nil
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	if c.UserAgent == "" {
		c.UserAgent = "cairn-restore"
	}
	c.WarningHandler = &warnings{rep: x.rep, seen: map[string]bool{}}
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if x.dyn, err = dynamic.NewForConfigAndClient(c, hc); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// The same connection; only the Accept header differs (the dynamic
	// client sets its own, so it is set on the way out).
	mc := &http.Client{Transport: acceptMetadata{hc.Transport}, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
	if x.creator, err = dynamic.NewForConfigAndClient(c, mc); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if x.disc, err = discovery.NewDiscoveryClientForConfigAndClient(c, hc); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	x.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(x.disc))
	return nil
}

// metadataOnly asks for a response's metadata (a server that cannot
// transform it answers with the whole object).
const metadataOnly = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// acceptMetadata asks for metadataOnly.
type acceptMetadata struct{ rt http.RoundTripper }

func (a acceptMetadata) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", metadataOnly)
	return a.rt.RoundTrip(r)
}

// order drops unselected entries, adds the namespaces the backup lacks,
// sets up owner tracking and returns the entries by group.
func (x *restorer) order(entries []*entry) [][]*entry {
	var groups [numRanks][]*entry
	haveNS := map[string]bool{}
	needNS := map[string]bool{}
	x.selectorServices = map[string]bool{}
	var selected []*entry
	for _, e := range entries {
		if !e.selected {
			e.raw = nil
			continue
		}
		selected = append(selected, e)
		e.rank = rankOf(e.ref.Group, e.ref.Resource)
		groups[e.rank] = append(groups[e.rank], e)
		switch {
		case isNamespace(e):
			haveNS[e.ref.Name] = true
		case e.ref.Namespace != "":
			needNS[e.ref.Namespace] = true
		}
		if e.hasSelector {
			x.selectorServices[e.ref.Namespace+"/"+e.ref.Name] = true
		}
	}
	for ns := range needNS {
		if !haveNS[ns] && !x.o.NamespacedOnly {
			e := &entry{ref: layout.ObjectRef{Resource: "namespaces", Name: ns}, apiVersion: "v1", kind: "Namespace",
				synthetic: true, selected: true, rank: rankNamespace}
			groups[rankNamespace] = append(groups[rankNamespace], e)
		}
	}
	x.owners = newOwners(selected, x.o)
	return groups[:]
}

// restoreGroup restores the entries of one group in parallel.
func (x *restorer) restoreGroup(ctx context.Context, group []*entry) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(x.o.Workers)
	for _, e := range group {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			it := x.restoreOne(gctx, e)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			x.record(e, it)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (x *restorer) record(e *entry, it Item) {
	if x.o.Progress != nil {
		x.o.Progress.Done.Add(1)
	}
	if e.synthetic {
		if it.Action == Skipped && strings.HasPrefix(it.Reason, "exists") {
			return // it was there; nothing to say
		}
		if it.Reason == "" {
			it.Reason = "not in the backup: made for the objects restored into it"
		}
	}
	if x.o.DryRun && it.Action == WouldCreate {
		x.mu.Lock()
		switch {
		case isNamespace(e):
			x.newNamespaces[it.Name] = true
		case e.rank == rankCRD:
			x.newCRDs[it.Name] = true
		}
		x.mu.Unlock()
	}
	x.rep.add(it)
}

// failUnread reports an object the first pass could not read or decode.
func (x *restorer) failUnread(e *entry, err error) {
	x.rep.add(Item{Kind: e.ref.GroupResource(), Namespace: x.o.targetNamespace(e.ref.Namespace), Name: e.ref.Name,
		Action: Failed, Reason: e.path + ": " + err.Error()})
}

var notLabelChar = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes s a valid label value (at most 63 characters of
// [A-Za-z0-9._-], starting and ending alphanumeric).
func labelValue(s string) string {
	s = notLabelChar.ReplaceAllString(s, "-")
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "-._")
}

// warnings collects the API server's warnings (deprecations, …) once each.
type warnings struct {
	rep  *Report
	mu   sync.Mutex
	seen map[string]bool
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen[text] {
		w.seen[text] = true
		w.rep.warn("API server: " + text)
	}
}
