package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// Target is the data to find: exactly one of Namespace, Object and
// Selector.
type Target struct {
	Namespace string
	Object    *ObjectTarget
	Selector  labels.Selector
}

// ObjectTarget is one object: Kind is a kind ("ConfigMap"), a resource
// ("configmaps") or resource.group ("deployments.apps"), matched without
// regard to case; Namespace is empty for a cluster-scoped object.
type ObjectTarget struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ParseObject parses KIND/NAMESPACE/NAME, or KIND/NAME for a
// cluster-scoped object.
func ParseObject(s string) (*ObjectTarget, error) {
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" {
			parts = nil
			break
		}
	}
	switch len(parts) {
	case 3:
		return &ObjectTarget{Kind: parts[0], Namespace: parts[1], Name: parts[2]}, nil
	case 2:
		return &ObjectTarget{Kind: parts[0], Name: parts[1]}, nil
	}
	return nil, fmt.Errorf("object %q: want KIND/NAMESPACE/NAME (or KIND/NAME when cluster-scoped), e.g. configmap/shop/settings", s)
}

// String is the target as the user gave it.
func (t Target) String() string {
	switch {
	case t.Object != nil:
		if t.Object.Namespace == "" {
			return t.Object.Kind + "/" + t.Object.Name
		}
		return t.Object.Kind + "/" + t.Object.Namespace + "/" + t.Object.Name
	case t.Selector != nil:
		return "objects with labels " + t.Selector.String()
	}
	return "namespace " + t.Namespace
}

func (t Target) validate() error {
	n := 0
	if t.Namespace != "" {
		n++
	}
	if t.Object != nil {
		n++
	}
	if t.Selector != nil {
		n++
	}
	if n != 1 {
		return errors.New("erase: give exactly one of a namespace, an object or a selector")
	}
	return nil
}

// Copy is one backup, or one pod-volume snapshot, that holds the target's
// data.
type Copy struct {
	Repository string     `json:"repository"`
	Backup     string     `json:"backup"`
	Snapshot   string     `json:"snapshot"`
	Kind       string     `json:"kind"` // "cluster" or "pod-volume"
	Created    time.Time  `json:"created"`
	Expires    *time.Time `json:"expires,omitempty"` // nil: never
	// LockedUntil is the retain-until date of the snapshot's object (nil:
	// not locked): no one can delete it before.
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`
	// GoneBy is the later of Expires and LockedUntil: the copy is gone at
	// the first prune after it. Nil when the backup never expires.
	GoneBy *time.Time `json:"goneBy,omitempty"`
	// Objects counts the target's objects in a cluster backup; Volume
	// names the volume of a pod-volume snapshot (namespace/pod/volume).
	Objects int    `json:"objects,omitempty"`
	Volume  string `json:"volume,omitempty"`
}

// Plan is where a target's data is and when it is gone.
type Plan struct {
	Target string `json:"target"`
	Copies []Copy `json:"copies"`
	// LastGoneBy is the latest GoneBy of all copies, nil when there are
	// none or some never expire (Never lists those).
	LastGoneBy *time.Time `json:"lastGoneBy,omitempty"`
	Never      []string   `json:"neverExpire,omitempty"`
	// Unreadable lists the backups whose manifest or objects could not be
	// read: the plan cannot say whether they hold the data.
	Unreadable []string `json:"unreadable,omitempty"`

	finders []*finder // what Add found, per repository, for Apply
}

// Add finds the copies of t in r and adds them to p. Call it once per
// repository (the primary, then each replica).
func (p *Plan) Add(ctx context.Context, r *repo.Repository, t Target) error {
	if err := t.validate(); err != nil {
		return err
	}
	p.Target = t.String()
	sns, err := snapshot.List(ctx, r)
	if err != nil {
		return fmt.Errorf("erase: list snapshots of %s: %w", r.Location(), err)
	}
	f := &finder{r: r, t: t, pods: map[string]bool{}, byID: map[string]*snapshot.Snapshot{}}
	p.finders = append(p.finders, f)
	for _, sn := range sns {
		f.byID[sn.ID] = sn
	}
	var volumes []*snapshot.Snapshot
	for _, sn := range sns {
		if old := layout.Replaces(sn.Labels); len(old) > 0 && f.byID[old[0]] != nil {
			// An erasure stopped between writing the new backup and
			// deleting the old one: the old one is the copy.
			continue
		}
		switch sn.Labels[layout.LabelKind] {
		case layout.KindCluster:
			n, err := f.inCluster(ctx, sn)
			if err != nil {
				p.Unreadable = append(p.Unreadable, fmt.Sprintf("%s (%s): %v", backup.Name(sn), sn.ShortID(), err))
				continue
			}
			if n > 0 {
				p.Copies = append(p.Copies, f.copyOf(ctx, sn, layout.KindCluster, n, ""))
			}
		case podvolume.KindPodVolume:
			volumes = append(volumes, sn) // after the cluster backups: a selector finds pods there
		}
	}
	for _, sn := range volumes {
		if f.inVolume(sn) {
			l := sn.Labels
			p.Copies = append(p.Copies, f.copyOf(ctx, sn, podvolume.KindPodVolume, 0, l[podvolume.LabelNamespace]+"/"+l[podvolume.LabelPod]+"/"+l[podvolume.LabelVolume]))
		}
	}
	p.summarize()
	return nil
}

func (p *Plan) summarize() {
	slices.SortStableFunc(p.Copies, func(a, b Copy) int {
		if c := strings.Compare(a.Repository, b.Repository); c != 0 {
			return c
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Volume, b.Volume)
	})
	p.LastGoneBy, p.Never = nil, nil
	for _, c := range p.Copies {
		if c.GoneBy == nil {
			p.Never = append(p.Never, c.Repository+": "+c.Backup)
			continue
		}
		if p.LastGoneBy == nil || c.GoneBy.After(*p.LastGoneBy) {
			t := *c.GoneBy
			p.LastGoneBy = &t
		}
	}
	if len(p.Never) > 0 {
		p.LastGoneBy = nil
	}
}

type finder struct {
	r    *repo.Repository
	t    Target
	pods map[string]bool               // "namespace/name" of Pods a selector matched
	byID map[string]*snapshot.Snapshot // the repository's snapshots, as listed
	// paths records, per cluster backup, the tree paths of the target's
	// data (files, or directories that are wholly the target's).
	paths map[string][]string
}

func (f *finder) found(sn *snapshot.Snapshot, p string) {
	if f.paths == nil {
		f.paths = map[string][]string{}
	}
	f.paths[sn.ID] = append(f.paths[sn.ID], p)
}

// inCluster counts the target's objects in a cluster backup.
func (f *finder) inCluster(ctx context.Context, sn *snapshot.Snapshot) (int, error) {
	m, err := backup.LoadManifest(ctx, f.r, sn)
	if err != nil {
		return 0, err
	}
	switch {
	case f.t.Namespace != "":
		n := m.CountsByNamespace[f.t.Namespace]
		if n > 0 {
			for _, res := range m.Resources {
				if res.Namespaced {
					f.found(sn, path.Dir(layout.ObjectPath(res.Group, res.Resource, f.t.Namespace, "x")))
				}
			}
		}
		// The Namespace object itself.
		p := layout.ObjectPath("", "namespaces", "", f.t.Namespace)
		if _, err := backup.Lookup(ctx, f.r, sn, p); err == nil {
			f.found(sn, p)
			n++
		}
		return n, nil
	case f.t.Object != nil:
		return f.objectIn(ctx, sn, m)
	}
	return f.selectedIn(ctx, sn, m)
}

// objectIn is 1 when the backup holds the object, else 0.
func (f *finder) objectIn(ctx context.Context, sn *snapshot.Snapshot, m *layout.Manifest) (int, error) {
	o := f.t.Object
	for _, res := range m.Resources {
		if !matchKind(res, o.Kind) || res.Namespaced != (o.Namespace != "") {
			continue
		}
		p := layout.ObjectPath(res.Group, res.Resource, o.Namespace, o.Name)
		_, err := backup.Lookup(ctx, f.r, sn, p)
		switch {
		case err == nil:
			f.found(sn, p)
			return 1, nil
		case !errors.Is(err, backup.ErrNoFile):
			return 0, err
		}
	}
	return 0, nil
}

func matchKind(r layout.Resource, kind string) bool {
	k := strings.ToLower(kind)
	gr := r.Resource
	if r.Group != "" {
		gr += "." + r.Group
	}
	return k == strings.ToLower(r.Kind) || k == r.Resource || k == gr
}

// selectedIn counts the objects whose labels match the selector, reading
// every object of the backup (one at a time).
func (f *finder) selectedIn(ctx context.Context, sn *snapshot.Snapshot, m *layout.Manifest) (int, error) {
	n := 0
	err := snapshot.Walk(ctx, f.r, sn.Tree, func(p string, node *snapshot.Node) error {
		if node.Type != snapshot.TypeFile {
			return nil
		}
		ref, err := layout.ParsePath(strings.TrimPrefix(p, "/"))
		if err != nil {
			return nil // the manifest and whatever is not an object
		}
		b, err := backup.Content(ctx, f.r, node)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		var obj struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if f.t.Selector.Matches(labels.Set(obj.Metadata.Labels)) {
			n++
			f.found(sn, p)
			if ref.Group == "" && ref.Resource == "pods" {
				f.pods[ref.Namespace+"/"+ref.Name] = true
			}
		}
		return nil
	})
	return n, err
}

// inVolume says whether a pod-volume snapshot holds the target's data.
func (f *finder) inVolume(sn *snapshot.Snapshot) bool {
	l := sn.Labels
	ns := l[podvolume.LabelNamespace]
	switch {
	case f.t.Namespace != "":
		return ns == f.t.Namespace
	case f.t.Object != nil:
		o := f.t.Object
		if o.Namespace != ns {
			return false
		}
		switch strings.ToLower(o.Kind) {
		case "persistentvolumeclaim", "persistentvolumeclaims", "pvc":
			return l[podvolume.LabelPVC] == o.Name
		case "pod", "pods":
			return l[podvolume.LabelPod] == o.Name
		}
		return false
	}
	return f.pods[ns+"/"+l[podvolume.LabelPod]]
}

func (f *finder) copyOf(ctx context.Context, sn *snapshot.Snapshot, kind string, objects int, volume string) Copy {
	c := Copy{
		Repository: f.r.Location(), Backup: sn.Labels[layout.LabelBackup], Snapshot: sn.ID,
		Kind: kind, Created: sn.Time, Expires: sn.Expires, Objects: objects, Volume: volume,
	}
	if ret, ok := f.r.Store().(store.Retainer); ok {
		if until, err := ret.Retention(ctx, repo.KindSnapshot.Key(sn.ID)); err == nil && !until.IsZero() {
			c.LockedUntil = &until
		}
	}
	if c.Expires != nil {
		gone := *c.Expires
		if c.LockedUntil != nil && c.LockedUntil.After(gone) {
			gone = *c.LockedUntil
		}
		c.GoneBy = &gone
	}
	return c
}
