package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// RunRetained runs the conformance suite of store.RetainedPutter as
// subtests of t. newStore must return a new, empty store that can lock
// objects and implements store.RetainedPutter and store.Retainer.
func RunRetained(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store, store.RetainedPutter, store.Retainer)
	}{
		{"LockedFromThePut", testPutRetainedLocked},
		{"Existing", testPutRetainedExisting},
		{"Ends", testPutRetainedEnds},
		{"BadInput", testPutRetainedBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			p, ok := s.(store.RetainedPutter)
			if !ok {
				t.Fatalf("%T does not implement store.RetainedPutter", s)
			}
			ret, ok := s.(store.Retainer)
			if !ok {
				t.Fatalf("%T implements store.RetainedPutter but not store.Retainer", s)
			}
			tt.fn(t, s, p, ret)
		})
	}
}

// testPutRetainedLocked: the object is there, reads back, is retained
// until at least the date (to the second) and cannot be deleted.
func testPutRetainedLocked(t *testing.T, s store.Store, p store.RetainedPutter, ret store.Retainer) {
	ctx := context.Background()
	const key = "data/ab/ab01"
	data := randBytes(1, 3000)
	until := time.Now().Add(time.Hour)
	if err := p.PutRetained(ctx, key, data, until, store.RetentionCompliance); err != nil {
		t.Fatalf("PutRetained = %v", err)
	}
	if got := mustGet(t, s, key, 0, -1); string(got) != string(data) {
		t.Fatalf("Get after PutRetained: %d bytes, want the %d put", len(got), len(data))
	}
	got, err := ret.Retention(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(until.Truncate(time.Second)) {
		t.Errorf("Retention = %v, want at least %v", got, until)
	}
	if err := s.Delete(ctx, key); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Delete of a retained object = %v, want ErrLocked", err)
	}
	if _, err := s.Stat(ctx, key); err != nil {
		t.Errorf("Stat after the refused Delete = %v", err)
	}
}

// testPutRetainedExisting: put-if-absent holds, and the object already
// there keeps its bytes and its retention.
func testPutRetainedExisting(t *testing.T, s store.Store, p store.RetainedPutter, ret store.Retainer) {
	ctx := context.Background()
	const key = "index/0123"
	first := time.Now().Add(time.Hour)
	if err := p.PutRetained(ctx, key, []byte("first"), first, store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	before, err := ret.Retention(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	err = p.PutRetained(ctx, key, []byte("second"), first.Add(time.Hour), store.RetentionCompliance)
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("PutRetained of an existing key = %v, want ErrExists", err)
	}
	if err := s.Put(ctx, key, []byte("third")); !errors.Is(err, store.ErrExists) {
		t.Errorf("Put over a retained object = %v, want ErrExists", err)
	}
	if got := mustGet(t, s, key, 0, -1); string(got) != "first" {
		t.Errorf("object reads %q after refused puts, want %q", got, "first")
	}
	if after, _ := ret.Retention(ctx, key); !after.Equal(before) {
		t.Errorf("retention changed from %v to %v by a refused put", before, after)
	}
	// A plain Put next to it is not retained.
	mustPut(t, s, "index/4567", []byte("plain"))
	if until, err := ret.Retention(ctx, "index/4567"); err != nil || !until.IsZero() {
		t.Errorf("Retention of a plain Put = %v, %v; want none", until, err)
	}
}

// testPutRetainedEnds: once its date has passed, the object can be deleted.
func testPutRetainedEnds(t *testing.T, s store.Store, p store.RetainedPutter, _ store.Retainer) {
	ctx := context.Background()
	const key = "snapshots/89ab"
	if err := p.PutRetained(ctx, key, []byte("short"), time.Now().Add(2*time.Second), store.RetentionGovernance); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Delete during retention = %v, want ErrLocked", err)
	}
	time.Sleep(3500 * time.Millisecond)
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete after retention ended = %v", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
}

// testPutRetainedBadInput: invalid keys, unknown modes and a done ctx
// store nothing.
func testPutRetainedBadInput(t *testing.T, s store.Store, p store.RetainedPutter, _ store.Retainer) {
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	checkErr(t, "PutRetained(\"../x\")", p.PutRetained(ctx, "../x", []byte("x"), until, store.RetentionCompliance), store.ErrInvalidKey)
	if err := p.PutRetained(ctx, "data/cd/cd01", []byte("x"), until, "forever"); err == nil {
		t.Error("PutRetained with an unknown mode succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	checkErr(t, "PutRetained with cancelled ctx", p.PutRetained(cancelled, "data/cd/cd02", []byte("x"), until, store.RetentionCompliance), context.Canceled)
	for _, key := range []string{"data/cd/cd01", "data/cd/cd02"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat(%q) after a refused PutRetained = %v, want ErrNotFound", key, err)
		}
	}
}
