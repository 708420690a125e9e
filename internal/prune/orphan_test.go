package prune_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestOrphanPacks: a pack no index names and no snapshot uses is kept
// while it is younger than the lock's stale window (by the store's time
// for it, against prune's clock) and deleted after; a prune that refuses
// deletes nothing.
func TestOrphanPacks(t *testing.T) {
	ctx := context.Background()
	s, _ := local.New(t.TempDir())
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := t.TempDir()
	testenv.RandomFiles(t, src, 2, 200<<10, 1)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}

	// An orphan, as a backup killed after its upload (or still running) leaves it.
	other, err := repo.Open(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := indexKeys(ctx, t, s)
	id, _, err := other.SaveBlob(ctx, blob.Data, []byte("a blob of a backup that has not finished"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	loc, _ := other.Lookup(id)
	for k := range indexKeys(ctx, t, s) {
		if !before[k] {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	orphanKey := repo.PackKey(loc.Pack)

	now := time.Now()
	for i := range 2 {
		rep, err := prune.Run(ctx, r, prune.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Orphans != 1 || rep.OrphansRecent != 1 || rep.OrphansDeleted != 0 {
			t.Fatalf("prune %d: %+v; want the fresh orphan kept", i+1, rep)
		}
		if _, err := s.Stat(ctx, orphanKey); err != nil {
			t.Fatalf("prune %d deleted a fresh orphan: %v", i+1, err)
		}
	}

	// A prune that refuses deletes nothing, however old the orphan.
	later := now.Add(repo.StaleAfter + time.Minute)
	if err := s.Put(ctx, "snapshots/junk", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	_, err = prune.Run(ctx, r, prune.Options{Now: func() time.Time { return later }})
	if !errors.Is(err, prune.ErrUnsafe) || !strings.Contains(err.Error(), "snapshots/junk") {
		t.Fatalf("prune with an unreadable snapshot file: %v, want ErrUnsafe naming it", err)
	}
	if _, err := s.Stat(ctx, orphanKey); err != nil {
		t.Fatalf("a prune that refused deleted the orphan: %v", err)
	}
	s.Delete(ctx, "snapshots/junk")

	rep, err := prune.Run(ctx, r, prune.Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphansDeleted != 1 {
		t.Fatalf("prune past the stale window: %+v; want the orphan deleted", rep)
	}
	if _, err := s.Stat(ctx, orphanKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("orphan still there after its stale window: %v", err)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: filepath.Join(dst, "r"), Verify: true}); err != nil {
		t.Fatal(err)
	}
	if diffs, _ := dirdiff.Compare(src, filepath.Join(dst, "r"), dirdiff.Options{}); len(diffs) > 0 {
		t.Fatal(diffs)
	}
}

func indexKeys(ctx context.Context, t *testing.T, s store.Store) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := s.List(ctx, "index/", func(fi store.Info) error { keys[fi.Key] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}
