package repo_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/faulty"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

func count(t *testing.T, s store.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.List(context.Background(), prefix, func(store.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLostLeaseStopsBackup: a backup whose lock cannot be refreshed stops
// with ErrLockLost and saves no snapshot. Its pack uploads hang, so it
// would otherwise run until its lock was long stale.
func TestLostLeaseStopsBackup(t *testing.T) {
	ctx := context.Background()
	f := faulty.Wrap(mem.New())
	stale := 600 * time.Millisecond
	r, err := repo.Init(ctx, f, []byte("pw"), repo.Options{LockStaleAfter: stale})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("some data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.StallPutPrefix("data/")
	start := time.Now()
	err = r.WithLock(ctx, repo.Shared, "backup", func(ctx context.Context) error {
		f.FailPutPrefix("locks/", errors.New("store unreachable"))
		_, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{dir}, Host: "test"})
		return err
	})
	if !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("backup under a lost lock = %v, want ErrLockLost", err)
	}
	if took := time.Since(start); took > 2*stale {
		t.Errorf("the backup stopped %v after it started; its lock goes stale after %v", took, stale)
	}
	if n := count(t, f, "snapshots/"); n != 0 {
		t.Errorf("%d snapshots saved under a lost lock", n)
	}
	t.Log(err)
}

// TestLiveLeaseStopsPrune: while a backup holds a live lease, with packs
// uploaded but not yet indexed, a prune cannot take the exclusive lock and
// deletes nothing — even when the prune's clock runs hours ahead and the
// backup's lock object says it was written long ago.
func TestLiveLeaseStopsPrune(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The backup's clock is a day behind: its lock object's time says so.
	backup, err := repo.Open(ctx, s, []byte("pw"), repo.Options{Now: func() time.Time { return time.Now().Add(-24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Close()
	pruner, err := repo.Open(ctx, s, []byte("pw"), repo.Options{Now: func() time.Time { return time.Now().Add(3 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer pruner.Close()

	var packs int
	err = backup.WithLock(ctx, repo.Shared, "backup", func(ctx context.Context) error {
		// More than a pack's worth of incompressible data: at least one
		// pack is uploaded, and no index file names it yet.
		rng := rand.NewChaCha8([32]byte{1})
		for range repo.DefaultPackSize/(1<<20) + 2 {
			b := make([]byte, 1<<20)
			rng.Read(b)
			if _, _, err := backup.SaveBlob(ctx, blob.Data, b); err != nil {
				return err
			}
		}
		for deadline := time.Now().Add(30 * time.Second); count(t, s, "data/") == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no pack uploaded")
			}
		}
		packs = count(t, s, "data/")
		if n := count(t, s, "index/"); n != 0 {
			t.Fatalf("%d index files: the packs are not orphans", n)
		}
		err := pruner.WithLock(ctx, repo.Exclusive, "prune", func(ctx context.Context) error {
			_, err := prune.Run(ctx, pruner, prune.Options{})
			return err
		})
		if !errors.Is(err, repo.ErrLocked) {
			t.Errorf("prune beside a live backup = %v, want ErrLocked", err)
		}
		if n := count(t, s, "data/"); n < packs {
			t.Errorf("%d of the backup's %d packs deleted", packs-n, packs)
		}
		return backup.Flush(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Once the backup let go, the prune may run.
	err = pruner.WithLock(ctx, repo.Exclusive, "prune", func(ctx context.Context) error {
		_, err := prune.Run(ctx, pruner, prune.Options{})
		return err
	})
	if err != nil {
		t.Fatalf("prune after the backup: %v", err)
	}
}
