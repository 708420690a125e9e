package snapshot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// TestListSkipsBadSnapshotFiles: a garbage file and a truncated one in
// snapshots/ do not stop the listing; they are named in r.BadObjects, and
// gone from it once deleted.
func TestListSkipsBadSnapshotFiles(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree, _, err := r.SaveBlob(ctx, blob.Tree, []byte(`{"nodes":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var good []*Snapshot
	for i, host := range []string{"a", "b", "c"} {
		sn := &Snapshot{Time: time.Unix(int64(1e9+i), 0), Host: host, Tree: tree}
		if err := Save(ctx, r, sn); err != nil {
			t.Fatal(err)
		}
		good = append(good, sn)
	}
	if err := s.Put(ctx, "snapshots/junk", []byte("not a snapshot")); err != nil {
		t.Fatal(err)
	}
	// b truncated: same name, fewer bytes.
	key := repo.KindSnapshot.Key(good[1].ID)
	b, _ := s.Get(ctx, key, 0, 20)
	var head [20]byte
	b.Read(head[:])
	s.Delete(ctx, key)
	if err := s.Put(ctx, key, head[:]); err != nil {
		t.Fatal(err)
	}

	var c Cache
	for _, list := range []func(context.Context, *repo.Repository) ([]*Snapshot, error){List, c.List} {
		got, err := list(ctx, r)
		if err != nil {
			t.Fatalf("List with bad files: %v", err)
		}
		if len(got) != 2 || got[0].Host != "a" || got[1].Host != "c" {
			t.Fatalf("List = %d snapshots, want a and c", len(got))
		}
		bad := map[string]error{}
		for _, b := range r.BadObjects() {
			bad[b.Key] = b.Err
		}
		if len(bad) != 2 || !errors.Is(bad["snapshots/junk"], repo.ErrCorrupt) || !errors.Is(bad[key], repo.ErrCorrupt) {
			t.Fatalf("BadObjects = %v, want snapshots/junk and %s", bad, key)
		}
		if !strings.Contains(bad[key].Error(), good[1].ID[:8]) {
			t.Errorf("error %q does not name the object", bad[key])
		}
	}
	if _, err := Find(ctx, r, good[2].ID[:10], Filter{}); err != nil {
		t.Fatalf("Find of a good snapshot beside bad ones: %v", err)
	}
	s.Delete(ctx, "snapshots/junk")
	s.Delete(ctx, key)
	if _, err := List(ctx, r); err != nil || len(r.BadObjects()) != 0 {
		t.Fatalf("after deleting the bad files: %v, %v", err, r.BadObjects())
	}
}
