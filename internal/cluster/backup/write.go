package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Writer writes a cluster backup whose objects come from somewhere else
// than a live cluster (an import of another tool's backup): the same
// blobs, trees, manifest and snapshot as Run writes, so that restore,
// retention, erase and the listings treat it like any other backup.
//
// Objects are added one at a time (Add) and written to the repository as
// they come; only a small entry per object is kept until Save. The caller
// holds a repository lock; a Writer is not safe for concurrent use.
type Writer struct {
	b     *backup
	index map[string]int  // groupResource -> index into b.resources
	seen  map[string]bool // groupResource/namespace/name of every object added
	stats repo.SaveStats
}

// NewWriter starts a backup named name. The error wraps ErrExists when a
// backup of that name is in the repository already.
func NewWriter(ctx context.Context, r *repo.Repository, name string, now func() time.Time) (*Writer, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: backup name %q: use lower-case letters, digits, '-' and '.' (at most 253)", ErrInvalid, name)
	}
	if _, err := Find(ctx, r, name); err == nil {
		return nil, fmt.Errorf("backup %q: %w", name, ErrExists)
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return nil, err
	}
	if _, err := r.AdoptOrphans(ctx); err != nil {
		return nil, err
	}
	opts := Options{Name: name, Now: now}
	opts.fill()
	b := &backup{
		ctx: ctx, r: r, opts: opts, start: opts.Now(),
		col: collector{dirs: map[dirKey][]entry{}}, skipped: map[string]int{},
	}
	return &Writer{b: b, index: map[string]int{}, seen: map[string]bool{}, stats: r.Stats()}, nil
}

// Add stores one object of the resource type res (its Group, Version,
// Resource, Kind and Namespaced set; the object's apiVersion and kind are
// set from it). It is cleaned as a listed object is (managedFields
// removed, keys sorted). Objects that a cluster re-creates by itself
// (service-account token secrets, mirror pods, controller-managed
// endpoints) and types cairn never backs up are left out and counted as
// skipped, as Run leaves them out. An object of the same type, namespace
// and name as one already added is left out too; stored reports whether
// it was kept. An object that cannot be stored as it is (bad JSON, no
// name) is ErrBadObject, which is not fatal to the backup: the caller
// reports it; any other error is the repository's.
func (w *Writer) Add(ctx context.Context, res layout.Resource, data []byte) (stored bool, err error) {
	b := w.b
	b.ctx = ctx
	gr := res.GroupResource()
	if ri, ok := w.index[gr]; ok {
		if r := b.resources[ri]; r.Version != res.Version || r.Namespaced != res.Namespaced {
			return false, fmt.Errorf("%w: %s: version %s after %s (or scope changed): one version per type", ErrBadObject, gr, res.Version, r.Version)
		}
	}
	obj, err := decodeItem(data, res)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrBadObject, gr, err)
	}
	ns := obj.meta.Namespace
	if !res.Namespaced {
		ns = ""
	} else if ns == "" {
		return false, fmt.Errorf("%w: %s %s: namespaced object without a namespace", ErrBadObject, gr, obj.meta.Name)
	}
	id := gr + "/" + ns + "/" + obj.meta.Name
	if w.seen[id] {
		return false, nil
	}
	w.seen[id] = true
	if why := neverReason(res); why != "" {
		b.skipped[why]++
		return false, nil
	}
	if why := rebuilt(res, obj); why != "" {
		b.skipped[why]++
		return false, nil
	}
	ri, ok := w.index[gr]
	if !ok {
		res.Count = 0
		ri = len(b.resources)
		b.resources = append(b.resources, res)
		w.index[gr] = ri
	}
	e, added, err := b.saveObject(obj)
	if err != nil {
		return false, fmt.Errorf("backup: store %s %s/%s: %w", gr, ns, obj.meta.Name, err)
	}
	k := dirKey{res: ri, ns: ns}
	b.col.dirs[k] = append(b.col.dirs[k], e)
	if added {
		b.added++
	}
	return true, nil
}

// Skip counts an object left out for a reason, which the manifest's
// warnings report ("skipped N <reason>").
func (w *Writer) Skip(reason string) { w.b.skipped[reason]++ }

// Save writes the backup. m says what the backup is (Name is the
// Writer's; Phase, Start, End, Selection, Warnings, Errors, TTL, Expires,
// Labels, Source as the caller sets them); Save fills in what the added
// objects are (Resources, Items, CountsByNamespace) and adds the skipped
// counts to the warnings. labels are added to the snapshot's labels (the
// kind and the backup name are set by Save). The snapshot's time is
// m.Start and it expires at m.Expires.
func (w *Writer) Save(ctx context.Context, m *layout.Manifest, labels map[string]string) (*snapshot.Snapshot, error) {
	b := w.b
	b.ctx = ctx
	m.Name = b.opts.Name
	b.count(m)
	for _, why := range sortedKeys(b.skipped) {
		m.Warnings = append(m.Warnings, fmt.Sprintf("skipped %d %s", b.skipped[why], why))
	}
	if m.Phase == "" {
		m.Phase = layout.PhaseCompleted
	}
	b.start = m.Start
	sn, err := b.saveSnapshot(ctx, m, w.stats, labels)
	if err != nil {
		return nil, err
	}
	return sn, nil
}
