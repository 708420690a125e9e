package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store"
)

// SaveUnpacked compresses, encrypts and stores a whole object of a kind,
// under <kind>/<sha256 of the stored bytes>, and returns that hex ID.
func (r *Repository) SaveUnpacked(ctx context.Context, kind Kind, plaintext []byte) (string, error) {
	plain := r.enc.EncodeAll(plaintext, []byte{encodingZstd})
	if len(plain) > len(plaintext) {
		plain = append([]byte{encodingRaw}, plaintext...)
	}
	sealed, err := r.keys.Seal(nil, plain, []byte("cairn "+kind))
	if err != nil {
		return "", err
	}
	id := hashName(sealed)
	put := r.putNew
	if kind == KindLock {
		put = r.store.Put // its holder deletes it: never retained
	}
	if err := put(ctx, kind.Key(id), sealed); err != nil && !errors.Is(err, store.ErrExists) {
		return "", fmt.Errorf("repo: store %s %s: %w", kind, id[:8], err)
	}
	return id, nil
}

// LoadUnpacked reads an object of a kind, checks its name against its
// SHA-256, decrypts and decompresses it. On a versioned store, an object
// whose current version does not match its name is read from the newest
// older version that does (see versions.go). Bytes that are wrong give an
// error wrapping ErrCorrupt.
func (r *Repository) LoadUnpacked(ctx context.Context, kind Kind, id string) ([]byte, error) {
	key := kind.Key(id)
	sealed, err := store.ReadAll(ctx, r.store, key)
	if err != nil {
		return nil, fmt.Errorf("repo: read %s %s: %w", kind, short(id), err)
	}
	if hashName(sealed) != id {
		older, err := r.olderVersion(ctx, key, id)
		if err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("repo: read %s %s: %w", kind, short(id), ctx.Err())
		}
		if older != nil {
			sealed = older
		}
	}
	return r.openUnpacked(kind, id, sealed)
}

func (r *Repository) openUnpacked(kind Kind, id string, sealed []byte) ([]byte, error) {
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
func (r *Repository) List(ctx context.Context, kind Kind, fn func(id string, size int64) error) error {
	prefix := kind.Prefix()
	return r.store.List(ctx, prefix, func(fi store.Info) error {
		return fn(strings.TrimPrefix(fi.Key, prefix), fi.Size)
	})
}

// DeleteUnpacked removes an object of a kind.
func (r *Repository) DeleteUnpacked(ctx context.Context, kind Kind, id string) error {
	if err := r.store.Delete(ctx, kind.Key(id)); err != nil {
		return fmt.Errorf("repo: delete %s %s: %w", kind, short(id), err)
	}
	return nil
}

// LoadIndex reads every index file into memory (in parallel). Index files
// that cannot be read (their bytes are wrong) are skipped and recorded
// (BadObjects); superseded ones are ignored (see readIndex).
func (r *Repository) LoadIndex(ctx context.Context) error {
	v, err := r.readIndex(ctx)
	if err != nil {
		return err
	}
	for _, f := range v.live {
		r.addIndexFile(f.id, f.file.Packs)
	}
	r.mu.Lock()
	for _, id := range v.listed {
		r.indexFiles[id] = struct{}{}
	}
	r.mu.Unlock()
	return nil
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
// files read. Unreadable and superseded files are left out, as by
// LoadIndex.
func (r *Repository) ReloadIndexFiles(ctx context.Context, fn func(id string, packs []index.Pack)) ([]string, error) {
	v, err := r.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	fresh := index.New()
	ids := make([]string, 0, len(v.live))
	for _, f := range v.live {
		for _, p := range f.file.Packs {
			fresh.Add(p)
		}
		fn(f.id, f.file.Packs)
		ids = append(ids, f.id)
	}
	files := make(map[string]struct{}, len(v.listed))
	for _, id := range v.listed {
		files[id] = struct{}{}
	}
	r.mu.Lock()
	r.idx = fresh
	r.indexFiles = files
	r.mu.Unlock()
	r.forgetPins()
	return ids, nil
}

// Refresh brings a repository that stays open across jobs (the node
// agent's) up to date with its store before the next job: it fails when
// the repository at the location was re-created (ErrChanged) or the key it
// was opened with was removed (ErrWrongPassword: `repo key remove` revokes a
// passphrase here as for a new process), reads the index files written
// since by others and, when some it holds are gone (prune replaced them)
// or a new one supersedes others (repair), reloads the whole index. Call it
// holding the repository's lock, with no job running on r.
func (r *Repository) Refresh(ctx context.Context) error {
	cfg, err := LoadConfig(ctx, r.store)
	if err != nil {
		return err
	}
	if cfg.ID != r.cfg.ID {
		return fmt.Errorf("repo: %w: its id is %s, was %s", ErrChanged, short(cfg.ID), short(r.cfg.ID))
	}
	if _, err := r.store.Stat(ctx, KindKey.Key(r.keyID)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("repo: key %s was removed: %w", short(r.keyID), ErrWrongPassword)
		}
		return fmt.Errorf("repo: key %s: %w", short(r.keyID), err)
	}
	ids, err := r.listIndex(ctx)
	if err != nil {
		return err
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
	files, bad, err := r.readIndexFiles(ctx, fresh)
	if err != nil {
		return err
	}
	for _, f := range files {
		if len(f.file.Supersedes) > 0 {
			return r.ReloadIndex(ctx)
		}
	}
	for _, f := range files {
		if !r.Superseded(KindIndex.Key(f.id)) {
			r.addIndexFile(f.id, f.file.Packs)
		}
	}
	r.addBadObjects(KindIndex, bad)
	r.mu.Lock()
	for _, id := range fresh {
		r.indexFiles[id] = struct{}{}
	}
	r.mu.Unlock()
	return nil
}

// EachIndexFile reads and decodes every index file that is readable and
// not superseded, 8 at a time, and calls fn with each (one call at a
// time); an error from fn stops the calls. It returns the IDs of the files
// fn was called with.
func (r *Repository) EachIndexFile(ctx context.Context, fn func(id string, packs []index.Pack) error) ([]string, error) {
	v, err := r.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(v.live))
	for _, f := range v.live {
		if err := fn(f.id, f.file.Packs); err != nil {
			return ids, err
		}
		ids = append(ids, f.id)
	}
	return ids, nil
}

// indexFile is one decoded index file.
type indexFile struct {
	id   string
	file index.File
}

// indexView is what the index files say, read in full.
type indexView struct {
	listed []string    // every index file in the store
	live   []indexFile // the readable ones no readable file supersedes
}

// readIndex lists and reads every index file. The rule for supersedes
// (repository-format.md §7): an object that any readable index file lists
// as superseded is ignored: its entries do not count, and an unreadable one
// is not reported. It records the unreadable index files that count
// (BadObjects) and the superseded keys (Superseded).
//
// Every file is decoded before any is used, because a superseding file may
// come last: for a moment the decoded files are held twice (about 50 bytes
// per blob).
func (r *Repository) readIndex(ctx context.Context) (indexView, error) {
	ids, err := r.listIndex(ctx)
	if err != nil {
		return indexView{}, err
	}
	files, bad, err := r.readIndexFiles(ctx, ids)
	if err != nil {
		return indexView{}, err
	}
	superseded := map[string]bool{}
	for _, f := range files {
		for _, k := range f.file.Supersedes {
			superseded[k] = true
		}
	}
	v := indexView{listed: ids}
	for _, f := range files {
		if !superseded[KindIndex.Key(f.id)] {
			v.live = append(v.live, f)
		}
	}
	counted := bad[:0]
	for _, b := range bad {
		if !superseded[b.Key] {
			counted = append(counted, b)
		}
	}
	r.SetBadObjects(KindIndex, counted)
	r.setSuperseded(superseded)
	return v, nil
}

func (r *Repository) listIndex(ctx context.Context) ([]string, error) {
	var ids []string
	if err := r.List(ctx, KindIndex, func(id string, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("repo: list index: %w", err)
	}
	return ids, nil
}

// readIndexFiles reads and decodes the index files ids, 8 at a time, in
// the order of ids. A file whose bytes are wrong is returned in bad, not as
// an error. One deleted since it was listed is an error (ErrNotFound): prune
// replaced the index meanwhile, and the listing may miss its new files.
func (r *Repository) readIndexFiles(ctx context.Context, ids []string) ([]indexFile, []BadObject, error) {
	files := make([]*indexFile, len(ids))
	errs := make([]error, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			b, err := r.LoadUnpacked(gctx, KindIndex, id)
			if err == nil {
				var f index.File
				if f, err = index.DecodeFile(b); err != nil {
					err = fmt.Errorf("repo: index %s: %v: %w", short(id), err, ErrCorrupt)
				} else {
					files[i] = &indexFile{id: id, file: f}
				}
			}
			switch {
			case err == nil:
			case IsBad(err):
				errs[i] = err
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var out []indexFile
	var bad []BadObject
	for i, f := range files {
		if f != nil {
			out = append(out, *f)
		}
		if errs[i] != nil {
			bad = append(bad, BadObject{Key: KindIndex.Key(ids[i]), Err: errs[i]})
		}
	}
	return out, bad, nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
