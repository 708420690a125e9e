package prune_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/stats"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

func TestForgetAndPrune(t *testing.T) {
	ctx := context.Background()
	s, _ := local.New(t.TempDir())
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	old, keep := t.TempDir(), t.TempDir()
	testenv.RandomFiles(t, old, 4, 6<<20, 1)
	testenv.RandomFiles(t, keep, 4, 6<<20, 2)
	// Small files of both land in one shared pack: prune must rewrite it.
	testenv.RandomFiles(t, filepath.Join(old, "small"), 40, 10<<10, 3)
	testenv.RandomFiles(t, filepath.Join(keep, "small"), 40, 10<<10, 4)

	past := time.Now().Add(-time.Hour)
	snOld, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{old}, Expires: &past})
	if err != nil {
		t.Fatal(err)
	}
	snKeep, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{keep}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := stats.Collect(ctx, r)

	all, _ := snapshot.List(ctx, r)
	remove, kept := snapshot.SelectForget(all, snapshot.ForgetPolicy{KeepWithin: 24 * time.Hour, Now: time.Now()})
	if len(remove) != 1 || remove[0].ID != snOld.ID || len(kept) != 1 {
		t.Fatalf("forget selected %d to remove, %d to keep; want the expired one removed", len(remove), len(kept))
	}
	if err := snapshot.Forget(ctx, r, remove); err != nil {
		t.Fatal(err)
	}

	dry, err := prune.Run(ctx, r, prune.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	afterDry, _ := stats.Collect(ctx, r)
	if afterDry.PackBytes != before.PackBytes {
		t.Fatal("dry run changed the repository")
	}
	rep, err := prune.Run(ctx, r, prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeleted == 0 || rep.BytesFreed < 20<<20 || rep.PacksDeleted != dry.PacksDeleted {
		t.Fatalf("prune report %+v (dry run %+v)", rep, dry)
	}
	after, _ := stats.Collect(ctx, r)
	if after.PackBytes > before.PackBytes-20<<20 {
		t.Errorf("packs %d bytes before, %d after: want at least 20 MiB freed", before.PackBytes, after.PackBytes)
	}
	if _, err := check.Run(ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check after prune: %v", err)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, snKeep, restorer.Options{Target: dst, Verify: true}); err != nil {
		t.Fatal(err)
	}
	if diffs, _ := dirdiff.Compare(keep, dst, dirdiff.Options{}); len(diffs) > 0 {
		t.Fatal(diffs)
	}
	// Pruning again finds nothing to do.
	again, err := prune.Run(ctx, r, prune.Options{})
	if err != nil || again.PacksDeleted+again.PacksRewritten != 0 {
		t.Fatalf("second prune: %+v, %v", again, err)
	}
}
