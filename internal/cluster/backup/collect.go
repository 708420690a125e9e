package backup

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
)

// keepFunc decides, for a dependency type, whether an object is stored.
type keepFunc func(obj *object) bool

// itemFunc returns the callback that stores the items of one list into bt.
// keep, when not nil, filters the objects of dependency types.
func (b *backup) itemFunc(ri int, bt *batch, keep keepFunc) func([]byte) error {
	return b.itemFuncBy(ri, func(string) *batch { return bt }, keep)
}

// itemFuncBy is itemFunc with the batch chosen by the object's namespace.
func (b *backup) itemFuncBy(ri int, batchFor func(ns string) *batch, keep keepFunc) func([]byte) error {
	r := b.resources[ri]
	gr := r.GroupResource()
	return func(raw []byte) error {
		obj, err := decodeItem(raw, r)
		if err != nil {
			b.warn(fmt.Sprintf("%s: an object could not be read and is not backed up: %v", where(r, ""), err))
			return nil
		}
		ns := obj.meta.Namespace
		bt := batchFor(ns)
		if r.Namespaced && !b.selected[ns] {
			return nil
		}
		if b.opts.optedOut(obj.meta.Labels) {
			bt.skip(skipOptOut)
			b.opts.Progress.Skipped.Add(1)
			return nil
		}
		if why := rebuilt(r, obj); why != "" {
			bt.skip(why)
			b.opts.Progress.Skipped.Add(1)
			return nil
		}
		if keep != nil && !keep(obj) {
			return nil
		}
		e, added, err := b.saveObject(obj)
		if err != nil {
			return fatal{fmt.Errorf("backup: store %s %s/%s: %w", gr, ns, obj.meta.Name, err)}
		}
		bt.store(dirKey{res: ri, ns: ns}, e, added)
		bt.note(gr, obj)
		b.opts.Progress.Objects.Add(1)
		b.opts.Progress.Bytes.Add(int64(e.size))
		return nil
	}
}

// saveObject writes an object's JSON as one data blob (or several when it
// is larger than the chunker's maximum, which no API server allows by
// default).
func (b *backup) saveObject(obj *object) (entry, bool, error) {
	e := entry{name: obj.meta.Name, mtime: obj.mtime(), size: uint64(len(obj.data))}
	added := false
	for data := obj.data; len(data) > 0; {
		n := min(len(data), chunker.MaxSize)
		id, isNew, err := b.r.SaveBlob(b.ctx, blob.Data, data[:n])
		if err != nil {
			return entry{}, false, err
		}
		e.ids = append(e.ids, id)
		added = added || isNew
		data = data[n:]
	}
	return e, added, nil
}

// listInto lists r (in ns, or cluster-wide) completely into a batch and
// merges it. A failed list is reported, not fatal.
func (b *backup) listInto(ctx context.Context, l *lister, ri int, ns string, keep keepFunc) error {
	bt := newBatch()
	r := b.resources[ri]
	err := l.list(ctx, r, ns, false, b.itemFunc(ri, bt, keep), func(reason string) {
		bt.reset()
		b.warn(reason)
	})
	if err != nil {
		return b.listFailed(r, ns, err)
	}
	b.commit(bt)
	return nil
}

// listFailed reports a failed list and returns nil, or the error when it
// is fatal.
func (b *backup) listFailed(r layout.Resource, ns string, err error) error {
	var f fatal
	if errors.As(err, &f) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if apierrors.IsNotFound(err) {
		// The type was removed (its CRD deleted) after discovery: there is
		// nothing left of it to back up.
		b.warn(listError(r, ns, err))
		return nil
	}
	b.opts.Progress.Errors.Add(1)
	b.mu.Lock()
	b.errors = append(b.errors, listError(r, ns, err))
	b.mu.Unlock()
	return nil
}

// listNamespaced lists a namespaced type over the selected namespaces.
// With few namespaces it lists each; otherwise it first tries one
// cluster-wide page, which is all it takes for the many types that have
// few objects. A type with more than one page, or that the credentials
// cannot list cluster-wide, is then listed per namespace, in parallel.
//
// A page holds objects in storage-key order (<namespace>/<name>: paging
// resumes after the last key), so the namespaces before the page's last
// one are complete and are kept; the others are listed one by one.
func (b *backup) listNamespaced(ctx context.Context, g *errgroup.Group, ri int) error {
	if len(b.namespaces) == 0 {
		return nil
	}
	r := b.resources[ri]
	rest := b.namespaces
	if len(b.namespaces) > 3 {
		done, cur, curNS := newBatch(), newBatch(), ""
		batchFor := func(ns string) *batch {
			if ns != curNS {
				done.merge(cur)
				cur, curNS = newBatch(), ns
			}
			return cur
		}
		restart := func(string) { done, cur, curNS = newBatch(), newBatch(), "" }
		err := b.l.list(ctx, r, "", true, b.itemFuncBy(ri, batchFor, nil), restart)
		switch {
		case err == nil:
			done.merge(cur)
			b.commit(done)
			return nil
		case errors.Is(err, errMorePages):
			b.commit(done) // cur, the last namespace of the page, may be incomplete
			rest = nil
			for _, ns := range b.namespaces {
				if ns+"/" >= curNS+"/" {
					rest = append(rest, ns)
				}
			}
		case apierrors.IsForbidden(err):
		default:
			return b.listFailed(r, "", err)
		}
	}
	for _, ns := range rest {
		g.Go(func() error { return b.listInto(ctx, b.l, ri, ns, nil) })
	}
	return nil
}

// clusterType says how a cluster-scoped type is backed up: whole (every
// object, the selector applied by the server), as a dependency (the
// objects that stored objects need, plus, when whole, those the selector
// matches), or not at all.
func (b *backup) clusterType(r layout.Resource) (list bool, keep keepFunc, server bool) {
	if b.opts.resourceExcluded(r) || neverReason(r) != "" {
		return false, nil, false
	}
	selected, explicit := b.opts.resourceSelected(r)
	whole := selected && (b.opts.IncludeClusterResources == ClusterTrue || explicit ||
		b.opts.IncludeClusterResources == ClusterAuto && b.opts.allNamespaces())
	need := b.need(r)
	switch {
	case need == nil:
		return whole, nil, true
	case whole:
		sel := b.selector
		return true, func(o *object) bool { return need(o) || sel.Matches(labels.Set(o.meta.Labels)) }, false
	case b.opts.IncludeClusterResources == ClusterFalse:
		return false, nil, false
	}
	return true, need, false
}

// need returns the filter of a dependency type (nil for other types).
func (b *backup) need(r layout.Resource) keepFunc {
	// Each filter reads a copy: the phase that uses it may add to deps.
	b.mu.Lock()
	defer b.mu.Unlock()
	in := func(m map[string]bool) keepFunc {
		m = maps.Clone(m)
		return func(o *object) bool { return m[o.meta.Name] }
	}
	switch r.GroupResource() {
	case "persistentvolumes":
		return in(b.deps.volumes)
	case "storageclasses.storage.k8s.io":
		return in(b.deps.storageClasses)
	case "clusterroles.rbac.authorization.k8s.io":
		return in(b.deps.clusterRoles)
	case "customresourcedefinitions.apiextensions.k8s.io":
		return in(b.crds)
	case "clusterrolebindings.rbac.authorization.k8s.io":
		sas := maps.Clone(b.deps.serviceAccounts)
		return func(o *object) bool {
			for _, s := range o.subjects {
				if s.Kind == "ServiceAccount" && sas[s.Namespace+"/"+s.Name] {
					return true
				}
			}
			return false
		}
	}
	return nil
}
