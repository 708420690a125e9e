package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// cacheBudget bounds the object JSON kept in memory between the first pass
// (which reads every object's metadata to select and order) and the
// restore itself; objects beyond it are read from the repository again.
const cacheBudget = 64 << 20

// entry is one object of the backup. After the first pass it holds what
// ordering and owner handling need, not the object (unless cached).
type entry struct {
	path    string
	ref     layout.ObjectRef
	content []blob.ID
	size    uint64

	apiVersion, kind string
	uid              types.UID
	labels           map[string]string // dropped after selection
	owners           []metav1.OwnerReference
	// Dependencies (first pass): a PVC's volume and storage class, a PV's
	// claim and storage class, a service's selector.
	volumeName, storageClass string
	claimNamespace           string
	hasSelector              bool

	raw       []byte // the JSON, when within cacheBudget
	selected  bool
	rank      int
	synthetic bool // a namespace made because the backup has none for it
}

// objectMeta is the part of an object the first pass decodes.
type objectMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name            string                  `json:"name"`
		Namespace       string                  `json:"namespace"`
		UID             types.UID               `json:"uid"`
		Labels          map[string]string       `json:"labels"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

type volumeSpec struct {
	VolumeName       string `json:"volumeName"`
	StorageClassName string `json:"storageClassName"`
	ClaimRef         *struct {
		Namespace string `json:"namespace"`
	} `json:"claimRef"`
	Selector json.RawMessage `json:"selector"`
}

// readManifest loads the backup manifest at the root of the snapshot.
func readManifest(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot) (*layout.Manifest, error) {
	root, err := snapshot.LoadTree(ctx, r, sn.Tree)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sn.ShortID(), err)
	}
	n := root.Find(layout.ManifestPath)
	if n == nil || n.Type != snapshot.TypeFile {
		return nil, fmt.Errorf("snapshot %s has no %s: %w", sn.ShortID(), layout.ManifestPath, ErrNotCluster)
	}
	b, err := loadFile(ctx, r, n.Content, n.Size)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %s: %w", sn.ShortID(), layout.ManifestPath, err)
	}
	var m layout.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("snapshot %s: %s: %v: %w", sn.ShortID(), layout.ManifestPath, err, repo.ErrCorrupt)
	}
	return &m, nil
}

// loadFile returns a file's content from its blobs.
func loadFile(ctx context.Context, r *repo.Repository, content []blob.ID, size uint64) ([]byte, error) {
	if len(content) == 1 {
		return r.LoadBlob(ctx, blob.Data, content[0], nil)
	}
	out := make([]byte, 0, size)
	var buf []byte
	for _, id := range content {
		b, err := r.LoadBlob(ctx, blob.Data, id, buf)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		buf = b[:0]
	}
	return out, nil
}

// listEntries walks the snapshot's resources/ tree: paths and blob IDs
// only. Files that are not object paths are reported as warnings.
func listEntries(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, warn func(string)) ([]*entry, error) {
	var out []*entry
	err := snapshot.Walk(ctx, r, sn.Tree, func(p string, n *snapshot.Node) error {
		if n.Type == snapshot.TypeDir {
			if p == "resources" || strings.HasPrefix(p, "resources/") {
				return nil
			}
			return snapshot.SkipDir
		}
		if !strings.HasPrefix(p, "resources/") || n.Type != snapshot.TypeFile {
			return nil
		}
		ref, err := layout.ParsePath(p)
		if err != nil {
			warn(fmt.Sprintf("%s: not an object path, ignored", p))
			return nil
		}
		if n.Error != "" {
			warn(fmt.Sprintf("%s: not in the backup: %s", p, n.Error))
			return nil
		}
		out = append(out, &entry{path: p, ref: ref, content: n.Content, size: n.Size})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", sn.ShortID(), err)
	}
	return out, nil
}

// readMeta is the first pass: it reads every object in parallel and keeps
// its metadata, and its JSON while the cache budget lasts. An object that
// cannot be read or decoded is reported as failed and dropped.
func readMeta(ctx context.Context, r *repo.Repository, entries []*entry, workers int, fail func(e *entry, err error)) ([]*entry, error) {
	var (
		mu     sync.Mutex
		cached int64
		bad    = map[*entry]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, e := range entries {
		g.Go(func() error {
			b, err := loadFile(gctx, r, e.content, e.size)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				mu.Lock()
				bad[e] = true
				mu.Unlock()
				fail(e, fmt.Errorf("read from the repository: %w", err))
				return nil
			}
			if err := e.decodeMeta(b); err != nil {
				mu.Lock()
				bad[e] = true
				mu.Unlock()
				fail(e, err)
				return nil
			}
			mu.Lock()
			if cached+int64(len(b)) <= cacheBudget {
				cached += int64(len(b))
				e.raw = b
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(bad) == 0 {
		return entries, nil
	}
	out := entries[:0]
	for _, e := range entries {
		if !bad[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

func (e *entry) decodeMeta(b []byte) error {
	var m objectMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if m.Kind == "" || m.APIVersion == "" {
		return errors.New("decode: no apiVersion or kind")
	}
	if m.Metadata.Name != e.ref.Name || m.Metadata.Namespace != e.ref.Namespace {
		return fmt.Errorf("decode: object %s/%s stored at %s", m.Metadata.Namespace, m.Metadata.Name, e.path)
	}
	e.apiVersion, e.kind, e.uid = m.APIVersion, m.Kind, m.Metadata.UID
	e.labels, e.owners = m.Metadata.Labels, m.Metadata.OwnerReferences
	if e.ref.Group == "" && len(m.Spec) > 0 {
		switch e.ref.Resource {
		case "persistentvolumeclaims", "persistentvolumes", "services":
			var s volumeSpec
			if err := json.Unmarshal(m.Spec, &s); err != nil {
				return fmt.Errorf("decode spec: %w", err)
			}
			e.volumeName, e.storageClass = s.VolumeName, s.StorageClassName
			sel := strings.TrimSpace(string(s.Selector))
			e.hasSelector = e.ref.Resource == "services" && sel != "" && sel != "null" && sel != "{}"
			if s.ClaimRef != nil {
				e.claimNamespace = s.ClaimRef.Namespace
			}
		}
	}
	return nil
}

// load returns the object's JSON: the cached copy (released) or a fresh
// read from the repository.
func (e *entry) load(ctx context.Context, r *repo.Repository) ([]byte, error) {
	if e.raw != nil {
		b := e.raw
		e.raw = nil
		return b, nil
	}
	if e.synthetic {
		return nil, errors.New("synthetic entry has no content")
	}
	return loadFile(ctx, r, e.content, e.size)
}
