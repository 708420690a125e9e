package repo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store/mem"
)

// A backup (shared) that meets a prune (exclusive) waits for it and runs
// after it; with a wait shorter than the prune, it gives up with
// ErrLocked, naming the holder, and fn never runs.
func TestWaitLock(t *testing.T) {
	ctx := context.Background()
	r, _ := Init(ctx, mem.New(), []byte("pw"), Options{})
	ex, err := r.Lock(ctx, Exclusive, "prune")
	if err != nil {
		t.Fatal(err)
	}
	var waited []error
	err = r.WaitLock(ctx, Shared, "backup", 200*time.Millisecond, func(err error) { waited = append(waited, err) }, func(context.Context) error {
		t.Error("fn ran while the exclusive lock was held")
		return nil
	})
	if !errors.Is(err, ErrLocked) || len(waited) == 0 {
		t.Fatalf("short wait: %v after %d waits; want ErrLocked after some", err, len(waited))
	}
	release := time.AfterFunc(300*time.Millisecond, func() {
		if err := ex.Unlock(ctx); err != nil {
			t.Error(err)
		}
	})
	defer release.Stop()
	start := time.Now()
	ran := false
	err = r.WaitLock(ctx, Shared, "backup", 5*time.Second, nil, func(context.Context) error {
		ran = true
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("long wait: %v, ran %v", err, ran)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("ran after %s, before the prune released its lock", d)
	}
	// fn's own ErrLocked is its result, not a reason to run it again.
	calls := 0
	err = r.WaitLock(ctx, Shared, "backup", 5*time.Second, nil, func(context.Context) error {
		calls++
		return ErrLocked
	})
	if !errors.Is(err, ErrLocked) || calls != 1 {
		t.Errorf("fn returning ErrLocked: %v after %d calls, want 1", err, calls)
	}
}
