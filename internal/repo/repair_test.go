package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/repo/pack"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// lockedIndex refuses to delete index files, as a bucket with object lock
// refuses to delete objects under retention.
type lockedIndex struct{ store.Store }

func (s lockedIndex) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, KindIndex.Prefix()) || strings.HasPrefix(key, KindSnapshot.Prefix()) {
		return fmt.Errorf("delete %s: %w until 2099-01-01T00:00:00Z", key, store.ErrLocked)
	}
	return s.Store.Delete(ctx, key)
}

// putGarbage stores bytes under <kind>/<their SHA-256>: named right, but
// not sealed with the repository's key.
func putGarbage(ctx context.Context, t *testing.T, s store.Store, kind Kind, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	id := hex.EncodeToString(sum[:])
	if err := s.Put(ctx, kind.Key(id), []byte(content)); err != nil {
		t.Fatal(err)
	}
	return kind.Key(id)
}

// TestRepairSupersedes pins the supersedes rule (repository-format.md §7)
// on a store that cannot delete index files: after repair, the old index
// files stay in the store, and every reader ignores them: their stale
// entries do not count and an unreadable one is no longer reported, for a
// new opening, a long-open repository after Refresh, and a second repair.
func TestRepairSupersedes(t *testing.T) {
	ctx := context.Background()
	s := lockedIndex{mem.New()}
	r, err := Init(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := saveFlushed(ctx, t, r, "a blob in a real pack")
	bad := putGarbage(ctx, t, s, KindIndex, "a truncated index file")
	// An index file naming a pack that is not in the store.
	stale := blob.ID{0xee}
	if _, err := r.WriteIndexFiles(ctx, []index.Pack{{ID: blob.ID{0xdd}, Entries: []pack.Entry{{Type: blob.Data, ID: stale, Length: 40, RawLength: 10}}}}, nil); err != nil {
		t.Fatal(err)
	}
	old := indexFiles(ctx, t, r)

	long, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatalf("Open with an unreadable index file: %v", err)
	}
	if b := long.BadObjects(); len(b) != 1 || b[0].Key != bad || !IsBad(b[0].Err) {
		t.Fatalf("BadObjects = %v, want %s", b, bad)
	}
	if !long.Has(good) || !long.Has(stale) {
		t.Fatal("the readable index files were not loaded")
	}

	rep, err := r.RepairIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Packs != 1 || rep.Blobs != 1 || len(rep.Written) != 1 || rep.Superseded != 3 || rep.Deleted != 0 || len(rep.Locked) != 3 {
		t.Fatalf("repair report %+v; want 1 pack, 1 file written superseding 3, all 3 locked", rep)
	}
	b, err := r.LoadUnpacked(ctx, KindIndex, rep.Written[0])
	if err != nil {
		t.Fatal(err)
	}
	f, err := index.DecodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range old {
		want = append(want, KindIndex.Key(id))
	}
	slices.Sort(want)
	slices.Sort(f.Supersedes)
	if !slices.Equal(f.Supersedes, want) {
		t.Fatalf("the repair index file supersedes %v, want %v", f.Supersedes, want)
	}

	check := func(what string, x *Repository) {
		t.Helper()
		if b := x.BadObjects(); len(b) != 0 {
			t.Errorf("%s: BadObjects = %v, want none (the bad file is superseded)", what, b)
		}
		if !x.Has(good) || x.Has(stale) {
			t.Errorf("%s: has the good blob %v (want true), the stale one %v (want false)", what, x.Has(good), x.Has(stale))
		}
		if !x.Superseded(bad) || len(x.SupersededKeys()) < 3 {
			t.Errorf("%s: superseded %v", what, x.SupersededKeys())
		}
	}
	check("the repairing repository", r)
	fresh, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	check("a new opening", fresh)
	if err := long.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("a long-open repository after Refresh", long)

	// A second repair supersedes everything there is, the first repair's
	// file included, so the old files stay ignored once it is gone.
	rep2, err := r.RepairIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Superseded != 4 {
		t.Fatalf("second repair superseded %d files, want 4", rep2.Superseded)
	}
	if err := s.Store.Delete(ctx, KindIndex.Key(rep.Written[0])); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	check("after the second repair", again)
}

// TestRepairReportsDamagedPacks: a pack whose header cannot be read is
// reported, and what a readable index file said about it is kept.
func TestRepairReportsDamagedPacks(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := Init(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := saveFlushed(ctx, t, r, "in a pack whose header breaks")
	loc, _ := r.Lookup(id)
	key := PackKey(loc.Pack)
	data, _ := store.ReadAll(ctx, s, key)
	data[len(data)-pack.TrailerSize-1] ^= 1 // in the sealed header
	s.Delete(ctx, key)
	s.Put(ctx, key, data)
	orphanID := saveFlushed(ctx, t, r, "in a healthy pack")

	rep, err := r.RepairIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.DamagedPacks) != 1 || !strings.Contains(rep.DamagedPacks[0], key) || rep.KeptFromOld != 1 || rep.Packs != 2 {
		t.Fatalf("repair report %+v; want %s damaged, kept from the old index", rep, key)
	}
	if !r.Has(id) || !r.Has(orphanID) {
		t.Fatal("blobs lost by repair")
	}
}
