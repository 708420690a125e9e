package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// IsCluster reports whether a snapshot is a cluster backup.
func IsCluster(sn *snapshot.Snapshot) bool { return sn.Labels[layout.LabelKind] == layout.KindCluster }

// Name returns a cluster backup's name.
func Name(sn *snapshot.Snapshot) string { return sn.Labels[layout.LabelBackup] }

// List returns the cluster backups in r, oldest first. A backup written
// again without erased data (label layout.LabelReplaces) stands for the
// one it replaces: that one is left out, should it still be there.
func List(ctx context.Context, r *repo.Repository) ([]*snapshot.Snapshot, error) {
	all, replacedBy, err := list(ctx, r)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sn := range all {
		if replacedBy[sn.ID] == nil {
			out = append(out, sn)
		}
	}
	return out, nil
}

// list returns every cluster backup, replaced ones too, and which
// snapshot replaces which (by ID; the replaced one may be gone).
func list(ctx context.Context, r *repo.Repository) ([]*snapshot.Snapshot, map[string]*snapshot.Snapshot, error) {
	all, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	out := all[:0]
	replacedBy := map[string]*snapshot.Snapshot{}
	for _, sn := range all {
		if IsCluster(sn) {
			out = append(out, sn)
			for _, old := range layout.Replaces(sn.Labels) {
				replacedBy[old] = sn
			}
		}
	}
	return out, replacedBy, nil
}

// Find returns the cluster backup named ref; failing that, "latest" (the
// newest) or the one whose snapshot ID starts with ref. An ID of a backup
// that was written again without erased data finds its replacement (the
// Backup objects of a cluster keep the first ID). The error wraps
// snapshot.ErrNotFound when none matches.
func Find(ctx context.Context, r *repo.Repository, ref string) (*snapshot.Snapshot, error) {
	all, replacedBy, err := list(ctx, r)
	if err != nil {
		return nil, err
	}
	current := func(sn *snapshot.Snapshot) *snapshot.Snapshot {
		for range len(replacedBy) { // a chain, one link per erasure; never a cycle
			next := replacedBy[sn.ID]
			if next == nil {
				break
			}
			sn = next
		}
		return sn
	}
	for i := len(all) - 1; i >= 0; i-- { // newest first, should a name repeat
		if Name(all[i]) == ref {
			return current(all[i]), nil
		}
	}
	if ref == "latest" && len(all) > 0 {
		for i := len(all) - 1; i >= 0; i-- {
			if replacedBy[all[i].ID] == nil {
				return all[i], nil
			}
		}
	}
	match := map[string]*snapshot.Snapshot{}
	if len(ref) >= 4 {
		for _, sn := range all {
			if strings.HasPrefix(sn.ID, ref) {
				c := current(sn)
				match[c.ID] = c
			}
		}
		for old, sn := range replacedBy {
			if strings.HasPrefix(old, ref) {
				c := current(sn)
				match[c.ID] = c
			}
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("cluster backup %q: %w", ref, snapshot.ErrNotFound)
	case 1:
		for _, sn := range match {
			return sn, nil
		}
	}
	return nil, fmt.Errorf("cluster backup %q: snapshot ID prefix is ambiguous (%d match)", ref, len(match))
}

// LoadManifest reads a cluster backup's manifest.
func LoadManifest(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) (*layout.Manifest, error) {
	b, err := ReadFile(ctx, r, sn, layout.ManifestPath)
	if err != nil {
		return nil, err
	}
	var m layout.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup %s: manifest: %v: %w", sn.ShortID(), err, repo.ErrCorrupt)
	}
	return &m, nil
}

// ErrNoFile: the path names no file in the snapshot.
var ErrNoFile = errors.New("no such file in the backup")

// ReadFile returns the content of the file at a slash-separated path of
// the snapshot's tree (e.g. manifest.json, or a layout.ObjectPath).
func ReadFile(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, p string) ([]byte, error) {
	n, err := Lookup(ctx, r, sn, p)
	if err != nil {
		return nil, err
	}
	if n.Type != snapshot.TypeFile {
		return nil, fmt.Errorf("backup %s: %s: not a file: %w", sn.ShortID(), p, ErrNoFile)
	}
	out, err := Content(ctx, r, n)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %s: %w", sn.ShortID(), p, err)
	}
	return out, nil
}

// Content returns a file node's content (an object's JSON is small: whole
// in memory).
func Content(ctx context.Context, r *repo.Repository, n *snapshot.Node) ([]byte, error) {
	var out []byte
	for _, id := range n.Content {
		b, err := r.LoadBlob(ctx, blob.Data, id, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// Lookup returns the node at a slash-separated path ("" is the root,
// returned as a directory node).
func Lookup(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, p string) (*snapshot.Node, error) {
	id := sn.Tree
	node := &snapshot.Node{Type: snapshot.TypeDir, Subtree: &id}
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		if node.Type != snapshot.TypeDir || node.Subtree == nil {
			return nil, fmt.Errorf("backup %s: %s: %w", sn.ShortID(), p, ErrNoFile)
		}
		t, err := snapshot.LoadTree(ctx, r, *node.Subtree)
		if err != nil {
			return nil, err
		}
		if node = t.Find(part); node == nil {
			return nil, fmt.Errorf("backup %s: %s: %w", sn.ShortID(), p, ErrNoFile)
		}
	}
	return node, nil
}

// CountObjects counts the objects of each type (Resource.GroupResource)
// per namespace ("" for cluster-scoped ones) by reading the snapshot's
// directories, not the objects. Files that are not objects are not
// counted.
func CountObjects(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	err := snapshot.Walk(ctx, r, sn.Tree, func(p string, n *snapshot.Node) error {
		if n.Type != snapshot.TypeFile || p == layout.ManifestPath {
			return nil
		}
		ref, err := layout.ParsePath(p)
		if err != nil {
			return nil // not an object: ignore
		}
		if out[ref.Namespace] == nil {
			out[ref.Namespace] = map[string]int{}
		}
		out[ref.Namespace][ref.GroupResource()]++
		return nil
	})
	return out, err
}
