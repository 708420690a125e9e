package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// Mem is an in-memory store.Store, safe for concurrent use.
type Mem struct {
	mu   sync.RWMutex
	objs map[string]object
	// versioned: Overwrite keeps the replaced version (see NewVersioned).
	versioned bool
	// old holds the replaced versions of each key, oldest first.
	old     map[string][]object
	version int // the last version ID handed out
}

type object struct {
	data    []byte
	modTime time.Time
	version string
}

var (
	_ store.Store     = (*Mem)(nil)
	_ store.Versioned = (*Mem)(nil)
)

// New returns an empty store.
func New() *Mem { return &Mem{objs: make(map[string]object), old: make(map[string][]object)} }

// NewVersioned returns an empty store that keeps the versions Overwrite
// replaces, as an S3 bucket with versioning does.
func NewVersioned() *Mem {
	m := New()
	m.versioned = true
	return m
}

// newObject copies data into a new version; m.mu is held.
func (m *Mem) newObject(data []byte) object {
	m.version++
	return object{data: bytes.Clone(data), modTime: time.Now(), version: fmt.Sprintf("v%d", m.version)}
}

// Location returns "mem".
func (m *Mem) Location() string { return "mem" }

// Put stores a copy of data under key if no object has that key.
func (m *Mem) Put(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("mem: put %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return fmt.Errorf("mem: put %s: %w", key, store.ErrExists)
	}
	m.objs[key] = m.newObject(data)
	return nil
}

// Overwrite puts data under key whether or not an object has it, as a
// client that bypasses Put's put-if-absent can do to a bucket (tests use it
// to play that client). A versioned store keeps the replaced version.
func (m *Mem) Overwrite(key string, data []byte) error {
	if err := store.ValidateKey(key); err != nil {
		return fmt.Errorf("mem: overwrite %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.objs[key]; ok && m.versioned {
		m.old[key] = append(m.old[key], cur)
	}
	m.objs[key] = m.newObject(data)
	return nil
}

// Get returns a reader over a copy of the requested range.
func (m *Mem) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("mem: get %s: %w", key, err)
	}
	m.mu.RLock()
	obj, ok := m.objs[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("mem: get %s: %w", key, store.ErrNotFound)
	}
	rc, err := obj.get(offset, length)
	if err != nil {
		return nil, fmt.Errorf("mem: get %s: %w", key, err)
	}
	return rc, nil
}

func (obj object) get(offset, length int64) (io.ReadCloser, error) {
	size := int64(len(obj.data))
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("%w: offset %d, size %d", store.ErrInvalidRange, offset, size)
	}
	end := size
	if length >= 0 && length < size-offset {
		end = offset + length
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(obj.data[offset:end]))), nil
}

// Versioning reports whether m keeps replaced versions (NewVersioned).
func (m *Mem) Versioning(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mem: versioning: %w", err)
	}
	return m.versioned, nil
}

// Versions returns the versions of key, newest first.
func (m *Mem) Versions(ctx context.Context, key string) ([]store.Version, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("mem: versions %s: %w", key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	cur, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("mem: versions %s: %w", key, store.ErrNotFound)
	}
	out := []store.Version{{ID: cur.version, ModTime: cur.modTime, Size: int64(len(cur.data)), IsLatest: true}}
	old := m.old[key]
	for i := len(old) - 1; i >= 0; i-- {
		out = append(out, store.Version{ID: old[i].version, ModTime: old[i].modTime, Size: int64(len(old[i].data))})
	}
	return out, nil
}

// GetVersion is Get on one version of key.
func (m *Mem) GetVersion(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("mem: get %s version %s: %w", key, versionID, err)
	}
	m.mu.RLock()
	var obj object
	found := false
	if cur, ok := m.objs[key]; ok && cur.version == versionID {
		obj, found = cur, true
	}
	for _, o := range m.old[key] {
		if o.version == versionID {
			obj, found = o, true
		}
	}
	m.mu.RUnlock()
	if !found {
		return nil, fmt.Errorf("mem: get %s version %s: %w", key, versionID, store.ErrNotFound)
	}
	rc, err := obj.get(offset, length)
	if err != nil {
		return nil, fmt.Errorf("mem: get %s version %s: %w", key, versionID, err)
	}
	return rc, nil
}

// Stat returns the object's size and the time it was put.
func (m *Mem) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := check(ctx, key); err != nil {
		return store.Info{}, fmt.Errorf("mem: stat %s: %w", key, err)
	}
	m.mu.RLock()
	obj, ok := m.objs[key]
	m.mu.RUnlock()
	if !ok {
		return store.Info{}, fmt.Errorf("mem: stat %s: %w", key, store.ErrNotFound)
	}
	return store.Info{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime}, nil
}

// List calls fn for a snapshot of the objects whose key starts with prefix,
// taken when List is called; fn may use the store.
func (m *Mem) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: list %s: %w", prefix, err)
	}
	if err := store.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("mem: list %s: %w", prefix, err)
	}
	var infos []store.Info
	m.mu.RLock()
	for key, obj := range m.objs {
		if strings.HasPrefix(key, prefix) {
			infos = append(infos, store.Info{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime})
		}
	}
	m.mu.RUnlock()
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %s: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object's latest version; in a versioned store the
// version before it, if any, becomes the object (as deleting the exact
// latest version does in S3).
func (m *Mem) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("mem: delete %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; !ok {
		return fmt.Errorf("mem: delete %s: %w", key, store.ErrNotFound)
	}
	delete(m.objs, key)
	if old := m.old[key]; len(old) > 0 {
		m.objs[key] = old[len(old)-1]
		if len(old) == 1 {
			delete(m.old, key)
		} else {
			m.old[key] = old[:len(old)-1]
		}
	}
	return nil
}

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return store.ValidateKey(key)
}
