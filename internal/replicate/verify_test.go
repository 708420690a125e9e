package replicate_test

import (
	"context"
	"errors"
	"path"
	"testing"

	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/faulty"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// TestVerify finds a missing object from the listings, a corrupted one
// only when reading data, and reports the lag.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	newRepo(t, src, 8, repo.Options{})
	inner := mem.New()
	if _, err := replicate.Run(ctx, src, inner, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	dst := faulty.Wrap(inner)
	v, err := replicate.Verify(ctx, src, dst, replicate.VerifyOptions{ReadData: true})
	if err != nil || !v.InSync || v.ReadBytes == 0 {
		t.Fatalf("verify a fresh replica: %v, %+v", err, v)
	}

	// The replica lost a pack and the newest snapshot, and one index
	// file reads back damaged.
	missingPack := keys(t, inner, "data/")[3]
	snaps := keys(t, src, "snapshots/")
	newest := snaps[0]
	for _, k := range snaps {
		a, _ := src.Stat(ctx, k)
		b, _ := src.Stat(ctx, newest)
		if a.ModTime.After(b.ModTime) {
			newest = k
		}
	}
	for _, k := range []string{missingPack, newest} {
		if err := inner.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	damaged := keys(t, inner, "index/")[1]
	dst.Corrupt(damaged, 100)

	v, err = replicate.Verify(ctx, src, dst, replicate.VerifyOptions{})
	if !errors.Is(err, replicate.ErrDifferent) {
		t.Fatalf("verify = %v, want ErrDifferent", err)
	}
	if v.Lag.Objects != 2 || v.Lag.Snapshots != 1 || v.Lag.Newest != path.Base(newest) || v.Lag.NewestTime == nil {
		t.Errorf("lag %+v, want 2 objects, newest snapshot %s", v.Lag, path.Base(newest))
	}
	if len(v.Missing) != 2 || len(v.Corrupt) != 0 {
		t.Errorf("missing %v, corrupt %v without reading data", v.Missing, v.Corrupt)
	}

	v, err = replicate.Verify(ctx, src, dst, replicate.VerifyOptions{ReadData: true})
	if !errors.Is(err, replicate.ErrDifferent) {
		t.Fatalf("verify --read-data = %v, want ErrDifferent", err)
	}
	if len(v.Corrupt) != 1 || v.Corrupt[0].Key != damaged || v.Corrupt[0].Side != "target" {
		t.Errorf("corrupt %+v, want %s on the target", v.Corrupt, damaged)
	}

	// Replicating again restores what was lost (the damaged object must
	// be deleted by hand: nothing is ever overwritten).
	if _, err := replicate.Run(ctx, src, inner, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	dst.Reset()
	if v, err := replicate.Verify(ctx, src, dst, replicate.VerifyOptions{ReadData: true}); err != nil || !v.InSync {
		t.Errorf("verify after a new run: %v, %+v", err, v)
	}
}
