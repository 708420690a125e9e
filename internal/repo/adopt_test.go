package repo

import (
	"context"
	"testing"

	"github.com/cairn-backup/cairn/internal/store/mem"
)

// orphan writes a blob through a second repository and deletes the index
// file that names its pack: the pack is an orphan, as a killed backup
// leaves it.
func orphan(ctx context.Context, t *testing.T, s *mem.Mem, data string) {
	t.Helper()
	other, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before := map[string]bool{}
	for _, id := range indexFiles(ctx, t, other) {
		before[id] = true
	}
	saveFlushed(ctx, t, other, data)
	for _, id := range indexFiles(ctx, t, other) {
		if !before[id] {
			if err := s.Delete(ctx, KindIndex.Key(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAdoptOrphansOnce: a repository kept open adopts orphan packs the
// first time only; a new opening adopts what appeared since.
func TestAdoptOrphansOnce(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := Init(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	orphan(ctx, t, s, "left by a killed backup")
	if n, err := r.AdoptOrphansOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first AdoptOrphansOnce: %d, %v; want 1 pack", n, err)
	}
	orphan(ctx, t, s, "left by another killed backup")
	if n, err := r.AdoptOrphansOnce(ctx); err != nil || n != 0 {
		t.Fatalf("second AdoptOrphansOnce on the same repository: %d, %v; want 0 (no listing)", n, err)
	}
	again, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := again.AdoptOrphansOnce(ctx); err != nil || n != 1 {
		t.Fatalf("AdoptOrphansOnce on a new opening: %d, %v; want the 1 new orphan", n, err)
	}
}
