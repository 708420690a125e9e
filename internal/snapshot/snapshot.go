package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store"
)

// What the functions that read and write trees and manifests need of a
// repository: *repo.Repository has it all; the archiver and restorer
// declare theirs from these.
type (
	// BlobLoader reads blobs (LoadTree, Walk).
	BlobLoader interface {
		LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error)
	}
	// BlobSaver stores blobs (SaveTree).
	BlobSaver interface {
		SaveBlob(ctx context.Context, t blob.Type, data []byte) (blob.ID, bool, error)
	}
	// ManifestSaver stores manifests (Save).
	ManifestSaver interface {
		SaveUnpacked(ctx context.Context, kind repo.Kind, plaintext []byte) (string, error)
	}
)

// Snapshot is the manifest of one backup.
type Snapshot struct {
	Time     time.Time         `json:"time"`
	Host     string            `json:"host"`
	Username string            `json:"username,omitempty"`
	Paths    []string          `json:"paths"`
	Tags     []string          `json:"tags,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Parent   string            `json:"parent,omitempty"`
	Tree     blob.ID           `json:"tree"`
	// Root holds the metadata of the backed-up directory itself when the
	// snapshot is of one directory (its contents are Tree).
	Root    *Node      `json:"root,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Summary *Summary   `json:"summary,omitempty"`
	Program string     `json:"program,omitempty"`

	// ID is the object's name in the repository; not stored.
	ID string `json:"-"`
}

// Summary records what a backup did.
type Summary struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	FilesNew       int64     `json:"files_new"`
	FilesChanged   int64     `json:"files_changed"`
	FilesUnchanged int64     `json:"files_unchanged"`
	Dirs           int64     `json:"dirs"`
	Others         int64     `json:"others"`
	BytesRead      int64     `json:"bytes_read"`  // file bytes read and chunked
	TotalBytes     int64     `json:"total_bytes"` // file bytes in the snapshot
	BlobsAdded     int64     `json:"blobs_added"`
	BytesAdded     int64     `json:"bytes_added"`        // plaintext of new blobs
	StoredAdded    int64     `json:"stored_bytes_added"` // sealed bytes of new blobs
	Errors         []string  `json:"errors,omitempty"`
}

// ShortID is the first 8 hex digits of the ID.
func (s *Snapshot) ShortID() string {
	if len(s.ID) > 8 {
		return s.ID[:8]
	}
	return s.ID
}

// Expired reports whether the snapshot's own expiry has passed.
func (s *Snapshot) Expired(now time.Time) bool {
	return s.Expires != nil && !now.Before(*s.Expires)
}

// ErrNotFound: no snapshot matches.
var ErrNotFound = errors.New("snapshot not found")

// Save stores a snapshot manifest and sets its ID.
func Save(ctx context.Context, r ManifestSaver, s *Snapshot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("snapshot: encode: %w", err)
	}
	id, err := r.SaveUnpacked(ctx, repo.KindSnapshot, b)
	if err != nil {
		return err
	}
	s.ID = id
	return nil
}

// Load reads one snapshot manifest.
func Load(ctx context.Context, r *repo.Repository, id string) (*Snapshot, error) {
	b, err := r.LoadUnpacked(ctx, repo.KindSnapshot, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return Decode(id, b)
}

// Decode parses a snapshot manifest.
func Decode(id string, b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("snapshot %s: %v: %w", id, err, repo.ErrCorrupt)
	}
	if s.Tree.IsZero() {
		return nil, fmt.Errorf("snapshot %s: no tree: %w", id, repo.ErrCorrupt)
	}
	s.ID = id
	return &s, nil
}

// List loads every snapshot, oldest first. A snapshot file that cannot be
// read (its bytes are wrong) is left out and recorded in the repository
// (r.BadObjects); one that an index file supersedes is ignored. Other
// errors (the store cannot be reached) fail the listing.
func List(ctx context.Context, r *repo.Repository) ([]*Snapshot, error) {
	return new(Cache).List(ctx, r)
}

// Cache keeps the snapshots of the repositories a long-running process
// lists again and again (the node agent looks up each volume's parent): a
// snapshot file never changes once written, so List reads only the files it
// has not seen before and forgets the ones forgotten since. The snapshots
// it returns are shared: callers must not change them. Safe for concurrent
// use; the zero value is ready.
type Cache struct {
	mu    sync.Mutex
	repos map[string]map[string]*Snapshot // repository ID → snapshot ID → snapshot
}

// List is the package's List, reading only the snapshots c does not hold.
func (c *Cache) List(ctx context.Context, r *repo.Repository) ([]*Snapshot, error) {
	var ids []string
	if err := r.List(ctx, repo.KindSnapshot, func(id string, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("snapshot: list: %w", err)
	}
	repoID := r.Config().ID
	c.mu.Lock()
	known := c.repos[repoID]
	c.mu.Unlock()
	out := make([]*Snapshot, len(ids))
	bad := make([]error, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		if s, ok := known[id]; ok {
			out[i] = s
			continue
		}
		if r.Superseded(repo.KindSnapshot.Key(id)) {
			continue
		}
		g.Go(func() error {
			s, err := Load(gctx, r, id)
			switch {
			case errors.Is(err, ErrNotFound):
				return nil // forgotten meanwhile
			case repo.IsBad(err):
				bad[i] = err
				return nil
			}
			out[i] = s
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var unreadable []repo.BadObject
	for i, err := range bad {
		if err != nil {
			unreadable = append(unreadable, repo.BadObject{Key: repo.KindSnapshot.Key(ids[i]), Err: err})
		}
	}
	r.SetBadObjects(repo.KindSnapshot, unreadable)
	now := make(map[string]*Snapshot, len(ids))
	kept := out[:0]
	for _, s := range out {
		if s != nil {
			now[s.ID] = s
			kept = append(kept, s)
		}
	}
	c.mu.Lock()
	if c.repos == nil {
		c.repos = map[string]map[string]*Snapshot{}
	}
	c.repos[repoID] = now
	c.mu.Unlock()
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].Time.Equal(kept[j].Time) {
			return kept[i].ID < kept[j].ID
		}
		return kept[i].Time.Before(kept[j].Time)
	})
	return kept, nil
}

// Filter selects snapshots; empty fields match everything.
type Filter struct {
	Host  string
	Paths []string // exactly this set of paths
	Tags  []string // all of these tags
	Label map[string]string
	// Directories keeps only snapshots of directories (fs backup): none
	// with a LabelKind (cluster backups, pod volumes, erasure receipts).
	Directories bool
}

// LabelKind is the label that says what a snapshot holds when it is not
// a directory backed up by `cairn fs backup` ("cluster", "pod-volume",
// "erasure-receipt"); the packages that write such snapshots name their
// kinds.
const LabelKind = "cairn.dev/kind"

// Match reports whether s passes the filter.
func (f Filter) Match(s *Snapshot) bool {
	if f.Host != "" && s.Host != f.Host {
		return false
	}
	if f.Paths != nil && !samePaths(f.Paths, s.Paths) {
		return false
	}
	for _, t := range f.Tags {
		found := false
		for _, st := range s.Tags {
			if st == t {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for k, v := range f.Label {
		if s.Labels[k] != v {
			return false
		}
	}
	if _, kind := s.Labels[LabelKind]; f.Directories && kind {
		return false
	}
	return true
}

func samePaths(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// Find resolves "latest" (the newest snapshot passing f), a full ID or a
// unique ID prefix.
func Find(ctx context.Context, r *repo.Repository, ref string, f Filter) (*Snapshot, error) {
	all, err := List(ctx, r)
	if err != nil {
		return nil, err
	}
	if ref == "latest" {
		for i := len(all) - 1; i >= 0; i-- {
			if f.Match(all[i]) {
				return all[i], nil
			}
		}
		return nil, fmt.Errorf("no snapshot to take as latest: %w", ErrNotFound)
	}
	if ref == "" {
		return nil, fmt.Errorf("empty snapshot ID: %w", ErrNotFound)
	}
	var match []*Snapshot
	for _, s := range all {
		if strings.HasPrefix(s.ID, ref) {
			match = append(match, s)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("snapshot %q: %w", ref, ErrNotFound)
	case 1:
		return match[0], nil
	}
	return nil, fmt.Errorf("snapshot ID prefix %q is ambiguous: %d snapshots match", ref, len(match))
}

// LoadTree reads and decodes a tree blob.
func LoadTree(ctx context.Context, r BlobLoader, id blob.ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, blob.Tree, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %v: %w", id.Short(), err, repo.ErrCorrupt)
	}
	return t, nil
}

// SaveTree encodes and saves a tree blob.
func SaveTree(ctx context.Context, r BlobSaver, t *Tree) (blob.ID, error) {
	b, err := EncodeTree(t)
	if err != nil {
		return blob.ID{}, err
	}
	id, _, err := r.SaveBlob(ctx, blob.Tree, b)
	return id, err
}

// Walk visits every node under tree depth-first in name order; fn gets the
// slash-separated path relative to the root. Returning SkipDir from fn for
// a directory skips its contents.
func Walk(ctx context.Context, r BlobLoader, tree blob.ID, fn func(path string, n *Node) error) error {
	return walk(ctx, r, tree, "", fn)
}

// SkipDir tells Walk not to descend (named like fs.SkipDir, which it mirrors).
//
//lint:ignore ST1012 named after fs.SkipDir on purpose
var SkipDir = errors.New("skip directory")

func walk(ctx context.Context, r BlobLoader, id blob.ID, prefix string, fn func(string, *Node) error) error {
	t, err := LoadTree(ctx, r, id)
	if err != nil {
		return err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := n.RawName()
		if prefix != "" {
			p = prefix + "/" + p
		}
		err := fn(p, n)
		if errors.Is(err, SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if n.Type == TypeDir && n.Subtree != nil {
			if err := walk(ctx, r, *n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
