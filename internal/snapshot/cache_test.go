package snapshot

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// countingStore counts reads of snapshot files.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if strings.HasPrefix(key, repo.KindSnapshot.Prefix()) {
		s.reads.Add(1)
	}
	return s.Store.Get(ctx, key, offset, length)
}

// TestCacheReadsEachSnapshotOnce: listing through a Cache reads only new
// snapshot files, drops forgotten ones, and gives what List gives.
func TestCacheReadsEachSnapshotOnce(t *testing.T) {
	ctx := context.Background()
	s := &countingStore{Store: mem.New()}
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree, _, err := r.SaveBlob(ctx, blob.Tree, []byte(`{"nodes":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	save := func(host string, at time.Time) *Snapshot {
		sn := &Snapshot{Time: at, Host: host, Paths: []string{"/" + host}, Tree: tree}
		if err := Save(ctx, r, sn); err != nil {
			t.Fatal(err)
		}
		return sn
	}
	t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	save("a", t0)
	b := save("b", t0.Add(time.Minute))
	var c Cache
	hosts := func(list []*Snapshot) string {
		var out []string
		for _, sn := range list {
			out = append(out, sn.Host)
		}
		return strings.Join(out, ",")
	}
	list := func() string {
		t.Helper()
		got, err := c.List(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := List(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if hosts(got) != hosts(plain) {
			t.Fatalf("Cache.List %s, List %s", hosts(got), hosts(plain))
		}
		return hosts(got)
	}
	before := s.reads.Load()
	if got := list(); got != "a,b" {
		t.Fatalf("first list: %s", got)
	}
	// List read 2, Cache.List 2.
	if n := s.reads.Load() - before; n != 4 {
		t.Fatalf("first lists read %d snapshot files, want 4", n)
	}
	if err := s.Delete(ctx, repo.KindSnapshot.Key(b.ID)); err != nil {
		t.Fatal(err)
	}
	save("c", t0.Add(-time.Minute))
	before = s.reads.Load()
	if got := list(); got != "c,a" {
		t.Fatalf("after forgetting b and adding c: %s", got)
	}
	// List read a and c; the cache only c.
	if n := s.reads.Load() - before; n != 3 {
		t.Fatalf("second lists read %d snapshot files, want 3 (the cache only the new one)", n)
	}
}
