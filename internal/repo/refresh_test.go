package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// saveFlushed saves data as a blob through r and flushes (one pack, one
// index file).
func saveFlushed(ctx context.Context, t *testing.T, r *Repository, data string) blob.ID {
	t.Helper()
	id, _, err := r.SaveBlob(ctx, blob.Data, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

func indexFiles(ctx context.Context, t *testing.T, r *Repository) []string {
	t.Helper()
	var ids []string
	if err := r.List(ctx, KindIndex, func(id string, _ int64) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRefresh: a repository kept open across jobs sees what others wrote
// since, drops what prune removed, and stops working when its key is
// removed or the repository is re-created.
func TestRefresh(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	long, err := Init(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	own := saveFlushed(ctx, t, long, "written by the long-open repository")
	other, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	theirs := saveFlushed(ctx, t, other, "written by another process")
	if long.Has(theirs) {
		t.Fatal("the long-open repository knows a blob before Refresh")
	}
	if err := long.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !long.Has(theirs) || !long.Has(own) {
		t.Fatalf("after Refresh: has theirs %v, own %v", long.Has(theirs), long.Has(own))
	}

	// Prune replaces index files: the one that listed theirs goes, and so
	// does its pack; the long-open repository must forget the blob (else it
	// would skip uploading it and a snapshot would point at nothing).
	var theirFile string
	for _, id := range indexFiles(ctx, t, long) {
		b, err := long.LoadUnpacked(ctx, KindIndex, id)
		if err != nil {
			t.Fatal(err)
		}
		packs, err := index.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range packs {
			for _, e := range p.Entries {
				if e.ID == theirs {
					theirFile = id
				}
			}
		}
	}
	if theirFile == "" {
		t.Fatal("no index file lists the other process's blob")
	}
	if err := s.Delete(ctx, KindIndex.Key(theirFile)); err != nil {
		t.Fatal(err)
	}
	if err := long.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if long.Has(theirs) || !long.Has(own) {
		t.Fatalf("after prune and Refresh: has theirs %v (want false), own %v", long.Has(theirs), long.Has(own))
	}

	// Removing the key it was opened with revokes it.
	if _, err := other.AddKey(ctx, []byte("two"), ""); err != nil {
		t.Fatal(err)
	}
	viaTwo, err := Open(ctx, s, []byte("two"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := viaTwo.RemoveKey(ctx, long.KeyID()); err != nil {
		t.Fatal(err)
	}
	if err := long.Refresh(ctx); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Refresh after its key was removed: %v, want ErrWrongPassword", err)
	}

	// A repository re-created at the same location is another one.
	s2 := mem.New()
	if _, err := Init(ctx, s2, []byte("pw"), Options{}); err != nil {
		t.Fatal(err)
	}
	stale, err := Open(ctx, s2, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete(ctx, ConfigKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, s2, []byte("pw"), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := stale.Refresh(ctx); !errors.Is(err, ErrChanged) {
		t.Fatalf("Refresh of a re-created repository: %v, want ErrChanged", err)
	}
}
