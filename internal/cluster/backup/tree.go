package backup

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// entry is what the backup keeps per stored object until its directory's
// tree is saved: a few dozen bytes, whatever the object's size.
type entry struct {
	name  string // object name
	mtime int64
	size  uint64
	ids   []blob.ID // one blob, or several for objects over chunker.MaxSize
}

// dirKey names one leaf directory: a resource type in one namespace, or
// its cluster directory (ns == "").
type dirKey struct {
	res int // index into backup.resources
	ns  string
}

// collector gathers entries from the concurrent lists.
type collector struct {
	mu   sync.Mutex
	dirs map[dirKey][]entry
}

func (c *collector) add(batch map[dirKey][]entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, es := range batch {
		c.dirs[k] = append(c.dirs[k], es...)
	}
}

// dirNode returns a directory node for a saved tree.
func dirNode(name string, id blob.ID) snapshot.Node {
	n := snapshot.Node{Type: snapshot.TypeDir, Mode: 0o755, Subtree: &id}
	n.SetName(name)
	return n
}

func fileNode(name string, e entry) snapshot.Node {
	n := snapshot.Node{Type: snapshot.TypeFile, Mode: 0o644, ModTime: e.mtime, Size: e.size, Content: e.ids}
	n.SetName(name)
	return n
}

// treeSaver saves trees and counts them.
type treeSaver struct {
	r    *repo.Repository
	dirs int64
}

func (s *treeSaver) save(ctx context.Context, nodes []snapshot.Node) (blob.ID, error) {
	t := &snapshot.Tree{Nodes: nodes}
	t.Sort()
	s.dirs++
	id, err := snapshot.SaveTree(ctx, s.r, t)
	if err != nil {
		return blob.ID{}, fmt.Errorf("backup: save tree: %w", err)
	}
	return id, nil
}

// saveResources saves the resources/ tree bottom-up from the collected
// entries and returns its node, or nil when there is nothing to save.
func (s *treeSaver) saveResources(ctx context.Context, resources []layout.Resource, dirs map[dirKey][]entry) (*snapshot.Node, error) {
	// group -> resource -> ns -> entries
	type resDirs struct {
		r   layout.Resource
		nss map[string][]entry
	}
	groups := map[string]map[string]*resDirs{}
	for k, es := range dirs {
		if len(es) == 0 {
			continue
		}
		r := resources[k.res]
		g := r.Group
		if g == "" {
			g = layout.CoreGroup
		}
		if groups[g] == nil {
			groups[g] = map[string]*resDirs{}
		}
		rd := groups[g][r.Resource]
		if rd == nil {
			rd = &resDirs{r: r, nss: map[string][]entry{}}
			groups[g][r.Resource] = rd
		}
		rd.nss[k.ns] = es
	}
	if len(groups) == 0 {
		return nil, nil
	}
	var groupNodes []snapshot.Node
	for _, g := range sortedKeys(groups) {
		var resNodes []snapshot.Node
		for _, res := range sortedKeys(groups[g]) {
			n, err := s.saveResource(ctx, res, groups[g][res].nss)
			if err != nil {
				return nil, err
			}
			resNodes = append(resNodes, n)
		}
		id, err := s.save(ctx, resNodes)
		if err != nil {
			return nil, err
		}
		groupNodes = append(groupNodes, dirNode(g, id))
	}
	id, err := s.save(ctx, groupNodes)
	if err != nil {
		return nil, err
	}
	n := dirNode("resources", id)
	return &n, nil
}

// saveResource saves resources/<group>/<resource>/{cluster,namespaces/<ns>}.
func (s *treeSaver) saveResource(ctx context.Context, name string, nss map[string][]entry) (snapshot.Node, error) {
	var children, nsNodes []snapshot.Node
	for _, ns := range sortedKeys(nss) {
		id, err := s.saveLeaf(ctx, nss[ns])
		if err != nil {
			return snapshot.Node{}, err
		}
		if ns == "" {
			children = append(children, dirNode("cluster", id))
		} else {
			nsNodes = append(nsNodes, dirNode(ns, id))
		}
	}
	if len(nsNodes) > 0 {
		id, err := s.save(ctx, nsNodes)
		if err != nil {
			return snapshot.Node{}, err
		}
		children = append(children, dirNode("namespaces", id))
	}
	id, err := s.save(ctx, children)
	if err != nil {
		return snapshot.Node{}, err
	}
	return dirNode(name, id), nil
}

// saveLeaf saves one directory of objects. Should a name occur twice (it
// cannot, short of a server bug) the later entry wins.
func (s *treeSaver) saveLeaf(ctx context.Context, es []entry) (blob.ID, error) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].name < es[j].name })
	nodes := make([]snapshot.Node, 0, len(es))
	for i, e := range es {
		if i+1 < len(es) && es[i+1].name == e.name {
			continue
		}
		nodes = append(nodes, fileNode(e.name+".json", e))
	}
	return s.save(ctx, nodes)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
