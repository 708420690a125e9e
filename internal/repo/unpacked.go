package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store"
)

// Kinds of unpacked objects, and the prefix they live under.
const (
	KindIndex    = "index"
	KindSnapshot = "snapshots"
	KindLock     = "locks"
)

// SaveUnpacked compresses, encrypts and stores a whole object of a kind,
// under <kind>/<sha256 of the stored bytes>, and returns that hex ID.
func (r *Repository) SaveUnpacked(ctx context.Context, kind string, plaintext []byte) (string, error) {
	plain := r.enc.EncodeAll(plaintext, []byte{encodingZstd})
	if len(plain) > len(plaintext) {
		plain = append([]byte{encodingRaw}, plaintext...)
	}
	sealed, err := r.keys.Seal(nil, plain, []byte("cairn "+kind))
	if err != nil {
		return "", err
	}
	id := hashName(sealed)
	if err := r.store.Put(ctx, kind+"/"+id, sealed); err != nil && !errors.Is(err, store.ErrExists) {
		return "", fmt.Errorf("repo: store %s %s: %w", kind, id[:8], err)
	}
	return id, nil
}

// LoadUnpacked reads an object of a kind, checks its name against its
// SHA-256, decrypts and decompresses it.
func (r *Repository) LoadUnpacked(ctx context.Context, kind, id string) ([]byte, error) {
	sealed, err := store.ReadAll(ctx, r.store, kind+"/"+id)
	if err != nil {
		return nil, fmt.Errorf("repo: read %s %s: %w", kind, short(id), err)
	}
	return r.openUnpacked(kind, id, sealed)
}

func (r *Repository) openUnpacked(kind, id string, sealed []byte) ([]byte, error) {
	if hashName(sealed) != id {
		return nil, fmt.Errorf("repo: %s %s: content does not match its name: %w", kind, short(id), ErrCorrupt)
	}
	plain, err := r.keys.Open(nil, sealed, []byte("cairn "+kind))
	if err != nil || len(plain) == 0 {
		return nil, fmt.Errorf("repo: %s %s: authentication failed: %w", kind, short(id), ErrCorrupt)
	}
	switch plain[0] {
	case encodingRaw:
		return plain[1:], nil
	case encodingZstd:
		out, err := r.dec.DecodeAll(plain[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("repo: %s %s: %v: %w", kind, short(id), err, ErrCorrupt)
		}
		return out, nil
	}
	return nil, fmt.Errorf("repo: %s %s: unknown encoding %d: %w", kind, short(id), plain[0], ErrCorrupt)
}

// List calls fn with the ID of every object of a kind.
func (r *Repository) List(ctx context.Context, kind string, fn func(id string, size int64) error) error {
	prefix := kind + "/"
	return r.store.List(ctx, prefix, func(fi store.Info) error {
		return fn(strings.TrimPrefix(fi.Key, prefix), fi.Size)
	})
}

// DeleteUnpacked removes an object of a kind.
func (r *Repository) DeleteUnpacked(ctx context.Context, kind, id string) error {
	if err := r.store.Delete(ctx, kind+"/"+id); err != nil {
		return fmt.Errorf("repo: delete %s %s: %w", kind, short(id), err)
	}
	return nil
}

// LoadIndex reads every index file into memory (in parallel).
func (r *Repository) LoadIndex(ctx context.Context) error {
	_, err := r.EachIndexFile(ctx, func(id string, packs []index.Pack) error {
		r.addIndexFile(id, packs)
		return nil
	})
	return err
}

// addIndexFile adds the packs of index file id to the in-memory index.
func (r *Repository) addIndexFile(id string, packs []index.Pack) {
	for _, p := range packs {
		r.idx.Add(p)
	}
	r.mu.Lock()
	r.indexFiles[id] = struct{}{}
	r.mu.Unlock()
}

// ReloadIndexFiles replaces the in-memory index with what the index files
// say now, reading each once, and also hands each file's packs to fn
// (called from one goroutine at a time). It returns the IDs of the index
// files read.
func (r *Repository) ReloadIndexFiles(ctx context.Context, fn func(id string, packs []index.Pack)) ([]string, error) {
	fresh := index.New()
	ids, err := r.EachIndexFile(ctx, func(id string, packs []index.Pack) error {
		for _, p := range packs {
			fresh.Add(p)
		}
		fn(id, packs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	files := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		files[id] = struct{}{}
	}
	r.mu.Lock()
	r.idx = fresh
	r.indexFiles = files
	r.mu.Unlock()
	return ids, nil
}

// Refresh brings a repository that stays open across jobs (the node
// agent's) up to date with its store before the next job: it fails when
// the repository at the location was re-created (ErrChanged) or the key it
// was opened with was removed (ErrWrongPassword: `repo key remove` revokes a
// passphrase here as for a new process), reads the index files written
// since by others and, when some it holds are gone (prune replaced them),
// reloads the whole index. Call it holding the repository's lock, with no
// job running on r.
func (r *Repository) Refresh(ctx context.Context) error {
	cfg, err := LoadConfig(ctx, r.store)
	if err != nil {
		return err
	}
	if cfg.ID != r.cfg.ID {
		return fmt.Errorf("repo: %w: its id is %s, was %s", ErrChanged, short(cfg.ID), short(r.cfg.ID))
	}
	if _, err := r.store.Stat(ctx, keysPrefix+r.keyID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("repo: key %s was removed: %w", short(r.keyID), ErrWrongPassword)
		}
		return fmt.Errorf("repo: key %s: %w", short(r.keyID), err)
	}
	var ids []string
	if err := r.List(ctx, KindIndex, func(id string, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return fmt.Errorf("repo: list index: %w", err)
	}
	listed := make(map[string]struct{}, len(ids))
	var fresh []string
	r.mu.Lock()
	for _, id := range ids {
		listed[id] = struct{}{}
		if _, ok := r.indexFiles[id]; !ok {
			fresh = append(fresh, id)
		}
	}
	gone := false
	for id := range r.indexFiles {
		if _, ok := listed[id]; !ok {
			gone = true
		}
	}
	r.mu.Unlock()
	if gone {
		return r.ReloadIndex(ctx)
	}
	return r.eachIndexFile(ctx, fresh, func(id string, packs []index.Pack) error {
		r.addIndexFile(id, packs)
		return nil
	})
}

// EachIndexFile reads and decodes every index file, 8 at a time, and calls
// fn with each (one call at a time); an error from fn stops the reading. It
// returns the IDs of the index files.
func (r *Repository) EachIndexFile(ctx context.Context, fn func(id string, packs []index.Pack) error) ([]string, error) {
	var ids []string
	if err := r.List(ctx, KindIndex, func(id string, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("repo: list index: %w", err)
	}
	return ids, r.eachIndexFile(ctx, ids, fn)
}

// eachIndexFile reads and decodes the index files ids, 8 at a time, and
// calls fn with each (one call at a time).
func (r *Repository) eachIndexFile(ctx context.Context, ids []string, fn func(id string, packs []index.Pack) error) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			b, err := r.LoadUnpacked(gctx, KindIndex, id)
			if err != nil {
				return err
			}
			packs, err := index.Decode(b)
			if err != nil {
				return fmt.Errorf("repo: index %s: %v: %w", short(id), err, ErrCorrupt)
			}
			mu.Lock()
			defer mu.Unlock()
			return fn(id, packs)
		})
	}
	return g.Wait()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
