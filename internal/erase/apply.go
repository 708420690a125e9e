package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// Labels of what Apply writes.
const (
	// LabelReplaces marks a cluster backup rewritten without erased data:
	// its value is the snapshot it replaces (deleted right after; a run
	// interrupted in between deletes it on the next Apply).
	LabelReplaces = layout.LabelReplaces
	// KindReceipt is the cairn.dev/kind of an erasure receipt: a snapshot
	// whose tree holds ReceiptPath.
	KindReceipt = "erasure-receipt"
	// ReceiptPath is the receipt's file in its snapshot's tree.
	ReceiptPath = "receipt.json"
)

// ErrUnreadable: Apply refused to erase because some backups of the
// repository cannot be read, so the data to erase may be in them.
var ErrUnreadable = errors.New("backups cannot be read, so the data may be in them")

// Receipt records an erasure: what was asked, when, what was rewritten or
// forgotten, and which copies stay (locked) until when. It names backups
// and snapshot IDs only, never the erased data.
type Receipt struct {
	Target    string     `json:"target"`
	Spec      TargetSpec `json:"spec"`
	Time      time.Time  `json:"time"`
	Rewritten []Rewrite  `json:"rewritten,omitempty"`
	Forgotten []Copy     `json:"forgotten,omitempty"`
	Locked    []Copy     `json:"locked,omitempty"`
	Pruned    bool       `json:"pruned"`
	LastGone  *time.Time `json:"lastGoneBy,omitempty"` // the last locked copy's end, nil when none stays
}

// TargetSpec is a Target as a receipt records it (to warn when a restore
// would bring the data back).
type TargetSpec struct {
	Namespace string        `json:"namespace,omitempty"`
	Object    *ObjectTarget `json:"object,omitempty"`
	Selector  string        `json:"selector,omitempty"`
}

func (t Target) spec() TargetSpec {
	s := TargetSpec{Namespace: t.Namespace, Object: t.Object}
	if t.Selector != nil {
		s.Selector = t.Selector.String()
	}
	return s
}

// Rewrite is a cluster backup replaced by one without the erased objects.
type Rewrite struct {
	Backup  string `json:"backup"`
	Old     string `json:"old"`
	New     string `json:"new"`
	Objects int    `json:"objects"` // objects removed
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	Now func() time.Time
	// Retain gives a written snapshot the object lock retention the
	// repository's config asks for (nil: none).
	Retain func(ctx context.Context, sn *snapshot.Snapshot) error
}

// Apply erases t's data from r's backups, under the exclusive lock the
// caller holds: each cluster backup holding it is written again without
// it (same name, time, expiry and labels; new trees and a new snapshot,
// nothing rewritten in place) and the old snapshot deleted; each pod-volume
// snapshot holding it is deleted; a copy under object lock is left and
// listed with its end. It then saves a receipt (a snapshot of kind
// KindReceipt) and returns it with its ID. The data is physically gone
// only after a prune that rewrites every pack holding it (the caller runs
// it; see Receipt.Pruned).
func Apply(ctx context.Context, r *repo.Repository, t Target, opts ApplyOptions) (*Receipt, string, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := finishInterrupted(ctx, r); err != nil {
		return nil, "", err
	}
	var p Plan
	if err := p.Add(ctx, r, t); err != nil {
		return nil, "", err
	}
	if len(p.Unreadable) > 0 {
		return nil, "", fmt.Errorf("erase: %d %w: %s", len(p.Unreadable), ErrUnreadable, strings.Join(p.Unreadable, "; "))
	}
	f := p.finders[0]
	now := opts.Now()
	rc := &Receipt{Target: p.Target, Spec: t.spec(), Time: now.UTC()}
	for _, c := range p.Copies {
		if c.LockedUntil != nil && c.LockedUntil.After(now) {
			rc.Locked = append(rc.Locked, c)
			continue
		}
		sn := f.byID[c.Snapshot]
		if c.Kind == podvolume.KindPodVolume {
			if err := forget(ctx, r, sn); errors.Is(err, store.ErrLocked) {
				rc.Locked = append(rc.Locked, c)
				continue
			} else if err != nil {
				return nil, "", err
			}
			rc.Forgotten = append(rc.Forgotten, c)
			continue
		}
		nsn, removed, err := rewrite(ctx, r, sn, f.paths[sn.ID], now, p.Target)
		if err != nil {
			return nil, "", fmt.Errorf("erase: rewrite backup %s: %w", c.Backup, err)
		}
		if opts.Retain != nil {
			if err := opts.Retain(ctx, nsn); err != nil {
				return nil, "", err
			}
		}
		if err := forget(ctx, r, sn); errors.Is(err, store.ErrLocked) {
			// Locked after all (the server knows better): the new
			// backup without the data stays too; the old one ends
			// with its lock.
			rc.Locked = append(rc.Locked, c)
		} else if err != nil {
			return nil, "", err
		}
		rc.Rewritten = append(rc.Rewritten, Rewrite{Backup: c.Backup, Old: sn.ID, New: nsn.ID, Objects: removed})
	}
	for _, c := range rc.Locked {
		if until := c.LockedUntil; until != nil && (rc.LastGone == nil || until.After(*rc.LastGone)) {
			rc.LastGone = until
		}
	}
	id, err := SaveReceipt(ctx, r, rc, opts.Retain)
	if err != nil {
		return nil, "", err
	}
	return rc, id, nil
}

func forget(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) error {
	err := r.DeleteUnpacked(ctx, repo.KindSnapshot, sn.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("erase: delete snapshot %s: %w", sn.ShortID(), err)
	}
	return nil
}

// finishInterrupted deletes the snapshots that a rewritten backup replaces
// but that are still there (an Apply stopped between the two steps).
func finishInterrupted(ctx context.Context, r *repo.Repository) error {
	sns, err := snapshot.List(ctx, r)
	if err != nil {
		return err
	}
	have := map[string]*snapshot.Snapshot{}
	for _, sn := range sns {
		have[sn.ID] = sn
	}
	for _, sn := range sns {
		for _, id := range layout.Replaces(sn.Labels) {
			if old := have[id]; old != nil && old.ID != sn.ID {
				if err := forget(ctx, r, old); err != nil && !errors.Is(err, store.ErrLocked) {
					return err
				}
			}
		}
	}
	return nil
}

// rewrite saves a copy of the cluster backup sn without the files and
// directories at paths, and with its manifest counting what is left.
func rewrite(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, paths []string, now time.Time, target string) (*snapshot.Snapshot, int, error) {
	drop := map[string]bool{}
	for _, p := range paths {
		drop[p] = true
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		return nil, 0, err
	}
	var removed []string // object paths
	tree, err := filterTree(ctx, r, sn.Tree, "", drop, &removed)
	if err != nil {
		return nil, 0, err
	}
	// The manifest counts what is left and says what happened.
	for _, p := range removed {
		ref, err := layout.ParsePath(p)
		if err != nil {
			continue
		}
		m.Items--
		if m.CountsByNamespace[ref.Namespace]--; m.CountsByNamespace[ref.Namespace] <= 0 {
			delete(m.CountsByNamespace, ref.Namespace)
		}
		for i := range m.Resources {
			if m.Resources[i].Group == ref.Group && m.Resources[i].Resource == ref.Resource {
				m.Resources[i].Count--
			}
		}
	}
	m.Warnings = append(m.Warnings, fmt.Sprintf("erasure of %s on %s: %d objects removed from this backup (see the erasure receipts: cairn snapshots --label cairn.dev/kind=%s)",
		target, now.UTC().Format(time.RFC3339), len(removed), KindReceipt))
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, 0, err
	}
	mid, _, err := r.SaveBlob(ctx, blob.Data, mb)
	if err != nil {
		return nil, 0, err
	}
	if err := r.Flush(ctx); err != nil { // the new trees, to read the root again
		return nil, 0, err
	}
	t, err := snapshot.LoadTree(ctx, r, tree)
	if err != nil {
		return nil, 0, err
	}
	mn := t.Find(layout.ManifestPath)
	if mn == nil {
		return nil, 0, fmt.Errorf("backup %s has no %s", sn.ShortID(), layout.ManifestPath)
	}
	mn.Content, mn.Size = []blob.ID{mid}, uint64(len(mb))
	root, err := snapshot.SaveTree(ctx, r, t)
	if err != nil {
		return nil, 0, err
	}
	if err := r.Flush(ctx); err != nil {
		return nil, 0, err
	}
	nsn := *sn
	nsn.ID, nsn.Tree = "", root
	nsn.Labels = maps.Clone(sn.Labels)
	nsn.Labels[LabelReplaces] = strings.Join(append([]string{sn.ID}, layout.Replaces(sn.Labels)...), ",")
	if nsn.Parent == "" {
		nsn.Parent = sn.ID
	}
	if err := snapshot.Save(ctx, r, &nsn); err != nil {
		return nil, 0, err
	}
	return &nsn, len(removed), nil
}

// filterTree saves a copy of tree id without the entries whose path is in
// drop, appending the paths of the files removed to removed. A tree that
// loses nothing keeps its ID.
func filterTree(ctx context.Context, r *repo.Repository, id blob.ID, prefix string, drop map[string]bool, removed *[]string) (blob.ID, error) {
	t, err := snapshot.LoadTree(ctx, r, id)
	if err != nil {
		return blob.ID{}, err
	}
	out := &snapshot.Tree{}
	changed := false
	for _, n := range t.Nodes {
		p := n.RawName()
		if prefix != "" {
			p = prefix + "/" + p
		}
		if drop[p] {
			changed = true
			if n.Type == snapshot.TypeDir && n.Subtree != nil {
				if err := snapshot.Walk(ctx, r, *n.Subtree, func(q string, c *snapshot.Node) error {
					if c.Type == snapshot.TypeFile {
						*removed = append(*removed, p+"/"+q)
					}
					return nil
				}); err != nil {
					return blob.ID{}, err
				}
			} else {
				*removed = append(*removed, p)
			}
			continue
		}
		if n.Type == snapshot.TypeDir && n.Subtree != nil && below(drop, p) {
			sub, err := filterTree(ctx, r, *n.Subtree, p, drop, removed)
			if err != nil {
				return blob.ID{}, err
			}
			if sub != *n.Subtree {
				changed = true
				n.Subtree = &sub
			}
		}
		out.Nodes = append(out.Nodes, n)
	}
	if !changed {
		return id, nil
	}
	return snapshot.SaveTree(ctx, r, out)
}

// below reports whether some path in drop lies under dir.
func below(drop map[string]bool, dir string) bool {
	for p := range drop {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// SaveReceipt writes rc as a receipt snapshot (no expiry: evidence is kept
// until someone forgets it) and returns its ID.
func SaveReceipt(ctx context.Context, r *repo.Repository, rc *Receipt, retain func(context.Context, *snapshot.Snapshot) error) (string, error) {
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return "", err
	}
	id, _, err := r.SaveBlob(ctx, blob.Data, b)
	if err != nil {
		return "", err
	}
	tree := &snapshot.Tree{Nodes: []snapshot.Node{{
		Name: ReceiptPath, Type: snapshot.TypeFile, Mode: 0o644, ModTime: rc.Time.UnixNano(), Size: uint64(len(b)), Content: []blob.ID{id},
	}}}
	root, err := snapshot.SaveTree(ctx, r, tree)
	if err != nil {
		return "", err
	}
	if err := r.Flush(ctx); err != nil {
		return "", err
	}
	sn := &snapshot.Snapshot{
		Time: rc.Time, Host: "cairn", Paths: []string{"erasure-receipt"}, Tree: root, Program: "cairn",
		Labels: map[string]string{layout.LabelKind: KindReceipt},
	}
	if err := snapshot.Save(ctx, r, sn); err != nil {
		return "", err
	}
	if retain != nil {
		if err := retain(ctx, sn); err != nil {
			return "", err
		}
	}
	return sn.ID, nil
}

// Receipts returns the erasure receipts of r, oldest first, and the IDs of
// receipt snapshots that cannot be read: one damaged object must not stop
// restores (the rule for bad snapshot files), so they are skipped, and the
// caller says so.
func Receipts(ctx context.Context, r *repo.Repository) ([]*Receipt, []string, error) {
	sns, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	var out []*Receipt
	var bad []string
	for _, sn := range sns {
		if sn.Labels[layout.LabelKind] != KindReceipt {
			continue
		}
		var rc Receipt
		b, err := backup.ReadFile(ctx, r, sn, ReceiptPath)
		if err == nil {
			err = json.Unmarshal(b, &rc)
		}
		if err != nil {
			bad = append(bad, sn.ID)
			continue
		}
		out = append(out, &rc)
	}
	return out, bad, nil
}
