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
}

type object struct {
	data    []byte
	modTime time.Time
}

var _ store.Store = (*Mem)(nil)

// New returns an empty store.
func New() *Mem { return &Mem{objs: make(map[string]object)} }

// Location returns "mem".
func (m *Mem) Location() string { return "mem" }

// Put stores a copy of data under key if no object has that key.
func (m *Mem) Put(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("mem: put %s: %w", key, err)
	}
	obj := object{data: bytes.Clone(data), modTime: time.Now()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return fmt.Errorf("mem: put %s: %w", key, store.ErrExists)
	}
	m.objs[key] = obj
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
	size := int64(len(obj.data))
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("mem: get %s: %w: offset %d, size %d", key, store.ErrInvalidRange, offset, size)
	}
	end := size
	if length >= 0 && length < size-offset {
		end = offset + length
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(obj.data[offset:end]))), nil
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

// Delete removes the object.
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
	return nil
}

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return store.ValidateKey(key)
}
