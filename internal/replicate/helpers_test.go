package replicate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// newRepo initializes a repository in s (a real config and key file) and
// adds n packs, n/2+1 index files and 3 snapshot manifests of random
// bytes, each named by its SHA-256 as the format says. Replication never
// decrypts, so random content is as good as sealed content.
func newRepo(t *testing.T, s store.Store, n int, opts repo.Options) {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Init(ctx, s, []byte("replicate test"), opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	for i := 0; i < n; i++ {
		putRandom(t, s, "data", 1000+i*100)
	}
	for i := 0; i < n/2+1; i++ {
		putRandom(t, s, "index", 200)
	}
	for i := 0; i < 3; i++ {
		putRandom(t, s, "snapshots", 300)
		time.Sleep(2 * time.Millisecond) // distinct times for the lag
	}
}

// putRandom stores size random bytes under kind, named by their SHA-256,
// and returns the key.
func putRandom(t *testing.T, s store.Store, kind string, size int) string {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	name := hex.EncodeToString(sum[:])
	key := kind + "/" + name
	if kind == "data" {
		key = "data/" + name[:2] + "/" + name
	}
	if err := s.Put(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
	return key
}

// keys lists every key of s under prefix, sorted.
func keys(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), prefix, func(info store.Info) error {
		out = append(out, info.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// sameObjects fails unless a and b hold the same keys with the same bytes
// (lock files aside).
func sameObjects(t *testing.T, a, b store.Store) {
	t.Helper()
	ka, kb := replicated(t, a), replicated(t, b)
	if strings.Join(ka, "\n") != strings.Join(kb, "\n") {
		t.Fatalf("keys differ:\n%s: %v\n%s: %v", a.Location(), ka, b.Location(), kb)
	}
	for _, k := range ka {
		if !bytes.Equal(read(t, a, k), read(t, b, k)) {
			t.Errorf("%s differs", k)
		}
	}
}

// replicated lists the keys replication copies.
func replicated(t *testing.T, s store.Store) []string {
	t.Helper()
	out := []string{}
	for _, k := range keys(t, s, "") {
		if !strings.HasPrefix(k, "locks/") {
			out = append(out, k)
		}
	}
	return out
}

func read(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	b, err := store.ReadAll(context.Background(), s, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// retaining is a store.Retainer over any store: it keeps retain-until
// dates in memory and refuses to delete objects retained past now.
type retaining struct {
	store.Store
	now   func() time.Time
	mu    sync.Mutex
	until map[string]time.Time
	modes map[string]string
}

func newRetaining(s store.Store) *retaining {
	return &retaining{Store: s, now: time.Now, until: map[string]time.Time{}, modes: map[string]string{}}
}

func (r *retaining) ObjectLockEnabled(context.Context) (bool, error) { return true, nil }

func (r *retaining) Retention(ctx context.Context, key string) (time.Time, error) {
	if _, err := r.Stat(ctx, key); err != nil {
		return time.Time{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.until[key], nil
}

func (r *retaining) SetRetention(ctx context.Context, key string, until time.Time, mode string) error {
	if _, err := r.Stat(ctx, key); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.After(r.until[key]) {
		r.until[key], r.modes[key] = until, mode
	}
	return nil
}

func (r *retaining) Delete(ctx context.Context, key string) error {
	r.mu.Lock()
	until := r.until[key]
	r.mu.Unlock()
	if until.After(r.now()) {
		return fmt.Errorf("delete %s: %w until %s", key, store.ErrLocked, until)
	}
	return r.Store.Delete(ctx, key)
}

var errBoom = errors.New("boom")
