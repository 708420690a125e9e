package snapshot_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// lockedStore refuses to delete one key, as a bucket with object lock does
// for an object under retention.
type lockedStore struct {
	*mem.Mem
	locked string
}

func (s lockedStore) Delete(ctx context.Context, key string) error {
	if key == s.locked {
		return store.ErrLocked
	}
	return s.Mem.Delete(ctx, key)
}

func TestForgetKeepsLockedManifestsAndGoesOn(t *testing.T) {
	ctx := context.Background()
	s := lockedStore{Mem: mem.New()}
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tree, err := snapshot.SaveTree(ctx, r, &snapshot.Tree{})
	if err != nil {
		t.Fatal(err)
	}
	var snaps []*snapshot.Snapshot
	for i := 0; i < 3; i++ {
		sn := &snapshot.Snapshot{Time: time.Unix(int64(i), 0), Host: "h", Paths: []string{"/x"}, Tree: tree}
		if err := snapshot.Save(ctx, r, sn); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, sn)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.locked = repo.KindSnapshot.Key(snaps[0].ID)
	r2, err := repo.Open(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = snapshot.Forget(ctx, r2, snaps)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), snaps[0].ShortID()) {
		t.Fatalf("err = %v, want ErrLocked naming %s", err, snaps[0].ShortID())
	}
	left, err := snapshot.List(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != snaps[0].ID {
		t.Fatalf("%d snapshots left, want only the locked one", len(left))
	}
}
