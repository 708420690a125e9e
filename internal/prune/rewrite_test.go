package prune_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// A pack that prune rewrites (one live blob of ten) leaves its live blob
// in two index files for a moment: the old pack's and the new pack's. The
// new index must name the new pack whichever file is read first (the
// order is the index files' names, random). Checked in a freshly opened
// repository, over 16 repositories: the old code lost the blob in about
// half of them.
func TestRewrittenPackKeepsItsLiveBlobs(t *testing.T) {
	ctx := context.Background()
	for i := range 16 {
		dir := t.TempDir()
		s, err := local.New(filepath.Join(dir, "repo"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(dir, "src")
		testenv.RandomFiles(t, src, 10, 8<<10, int64(100+i))
		old, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
		if err != nil {
			t.Fatal(err)
		}
		// Keep one file: the pack of the ten small files is 90 % unused.
		files, _ := filepath.Glob(filepath.Join(src, "f", "*", "*"))
		for _, f := range files[1:] {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}}); err != nil {
			t.Fatal(err)
		}
		if err := snapshot.Forget(ctx, r, []*snapshot.Snapshot{old}); err != nil {
			t.Fatal(err)
		}
		rep, err := prune.Run(ctx, r, prune.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if rep.PacksRewritten == 0 {
			t.Fatalf("repository %d: no pack rewritten (%+v): the test proves nothing", i, rep)
		}
		r, err = repo.Open(ctx, s, []byte("pw"), repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := check.Run(ctx, r, check.Options{ReadData: true}); err != nil {
			t.Fatalf("repository %d: check after a prune that rewrote %d packs: %v", i, rep.PacksRewritten, err)
		}
		r.Close()
	}
}
