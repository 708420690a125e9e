package faulty

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/internal/store"
)

// Store is a store.Store that passes calls on to another one, except for the
// faults it was told to inject. It is safe for concurrent use.
type Store struct {
	inner store.Store

	mu       sync.Mutex
	puts     int           // Puts seen so far
	nth      map[int]error // Put number -> error
	prefixes []prefixFault
	stalls   []string         // key prefixes whose Puts hang
	corrupt  map[string]int64 // key -> offset of the flipped byte
}

type prefixFault struct {
	prefix string
	err    error
}

var _ store.Store = (*Store)(nil)

// Wrap returns s with no faults set.
func Wrap(s store.Store) *Store { return &Store{inner: s} }

// FailPut makes the nth Put from now (1: the next) fail with err, without
// storing anything. Every Put counts, whatever its key or outcome.
func (f *Store) FailPut(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nth == nil {
		f.nth = make(map[int]error)
	}
	f.nth[f.puts+n] = err
}

// FailPutPrefix makes every Put of a key starting with prefix fail with err,
// without storing anything.
func (f *Store) FailPutPrefix(prefix string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefixes = append(f.prefixes, prefixFault{prefix, err})
}

// StallPutPrefix makes every Put of a key starting with prefix hang until
// its ctx is done, then fail with ctx's error without storing anything: a
// store that stopped answering.
func (f *Store) StallPutPrefix(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stalls = append(f.stalls, prefix)
}

// Corrupt makes every Get of key whose range covers offset return the byte
// at offset of the object with all its bits flipped. The stored object,
// Stat and List are unchanged.
func (f *Store) Corrupt(key string, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.corrupt == nil {
		f.corrupt = make(map[string]int64)
	}
	f.corrupt[key] = offset
}

// Reset removes every fault.
func (f *Store) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nth, f.prefixes, f.stalls, f.corrupt = nil, nil, nil, nil
}

// Location returns "faulty:" and the wrapped store's location.
func (f *Store) Location() string { return "faulty:" + f.inner.Location() }

// Put fails if a fault says so, else passes the call on.
func (f *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := f.putFault(key); err != nil {
		return fmt.Errorf("faulty: put %s: %w", key, err)
	}
	if f.stalled(key) {
		<-ctx.Done()
		return fmt.Errorf("faulty: put %s: stalled: %w", key, ctx.Err())
	}
	return f.inner.Put(ctx, key, data)
}

func (f *Store) stalled(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.stalls {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (f *Store) putFault(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if err, ok := f.nth[f.puts]; ok {
		delete(f.nth, f.puts)
		return err
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(key, p.prefix) {
			return p.err
		}
	}
	return nil
}

// Get passes the call on and flips the corrupted byte, if any, as it is read.
func (f *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := f.inner.Get(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	at, ok := f.corrupt[key]
	f.mu.Unlock()
	if !ok {
		return rc, nil
	}
	return &flipper{rc: rc, pos: offset, at: at}, nil
}

// flipper flips the byte at object offset at as it passes.
type flipper struct {
	rc  io.ReadCloser
	pos int64 // object offset of the next byte read
	at  int64
}

func (r *flipper) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if r.pos <= r.at && r.at < r.pos+int64(n) {
		p[r.at-r.pos] ^= 0xff
	}
	r.pos += int64(n)
	return n, err
}

func (r *flipper) Close() error { return r.rc.Close() }

// Stat passes the call on.
func (f *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	return f.inner.Stat(ctx, key)
}

// List passes the call on.
func (f *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	return f.inner.List(ctx, prefix, fn)
}

// Delete passes the call on.
func (f *Store) Delete(ctx context.Context, key string) error {
	return f.inner.Delete(ctx, key)
}
