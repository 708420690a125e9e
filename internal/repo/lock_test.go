package repo

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/faulty"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// clockStore stamps the objects put into it with its own clock, which the
// test sets: the store's clock, unrelated to any client's.
type clockStore struct {
	store.Store
	mu     sync.Mutex
	now    time.Time
	stamps map[string]time.Time
}

func newClockStore() *clockStore {
	return &clockStore{Store: mem.New(), now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), stamps: map[string]time.Time{}}
}

func (c *clockStore) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clockStore) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Store.Put(ctx, key, data); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stamps[key] = c.now
	return nil
}

func (c *clockStore) stamp(fi store.Info) store.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.stamps[fi.Key]; ok {
		fi.ModTime = t
	}
	return fi
}

func (c *clockStore) Stat(ctx context.Context, key string) (store.Info, error) {
	fi, err := c.Store.Stat(ctx, key)
	return c.stamp(fi), err
}

func (c *clockStore) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	return c.Store.List(ctx, prefix, func(fi store.Info) error { return fn(c.stamp(fi)) })
}

// putLock stores a lock object with the given content, as another process
// (or a forger) would.
func putLock(t *testing.T, r *Repository, li LockInfo) string {
	t.Helper()
	b, _ := json.Marshal(li)
	id, err := r.SaveUnpacked(context.Background(), KindLock, b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func countLocks(t *testing.T, s store.Store) int {
	t.Helper()
	n := 0
	if err := s.List(context.Background(), KindLock.Prefix(), func(store.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLockModes(t *testing.T) {
	ctx := context.Background()
	r, _ := Init(ctx, mem.New(), []byte("pw"), Options{})
	shared1, err := r.Lock(ctx, Shared, "backup")
	if err != nil {
		t.Fatal(err)
	}
	shared2, err := r.Lock(ctx, Shared, "backup")
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	if _, err := r.Lock(ctx, Exclusive, "prune"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "shared lock by backup") {
		t.Fatalf("exclusive while shared held: %v", err)
	}
	if err := shared1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := shared2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := r.Lock(ctx, Exclusive, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(ctx, Shared, "backup"); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared while exclusive held: %v", err)
	}
	if err := ex.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countLocks(t, r.Store()); n != 0 {
		t.Fatalf("%d lock objects left after Unlock", n)
	}
}

// TestLockStaleness: only the store's clock decides whether a lock is
// stale — not the time its holder wrote into it, not the checker's clock,
// not whether a process of that PID runs on a host of that name.
func TestLockStaleness(t *testing.T) {
	host, _ := os.Hostname()
	for _, tt := range []struct {
		name    string
		info    func(now time.Time) LockInfo
		age     time.Duration // store time between the lock object and the checker's
		checker time.Duration // the checker's clock, off by this much
		stale   bool
	}{
		{"old by the store's clock", func(now time.Time) LockInfo { return LockInfo{Time: now} }, StaleAfter + time.Minute, 0, true},
		{"young by the store's clock", func(now time.Time) LockInfo { return LockInfo{Time: now} }, StaleAfter - time.Minute, 0, false},
		{"forged future time, old object", func(now time.Time) LockInfo { return LockInfo{Time: now.Add(365 * 24 * time.Hour)} }, StaleAfter + time.Minute, 0, true},
		{"forged old time, fresh object", func(time.Time) LockInfo { return LockInfo{Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)} }, 0, 0, false},
		{"checker's clock a year ahead", func(now time.Time) LockInfo { return LockInfo{Time: now} }, time.Minute, 365 * 24 * time.Hour, false},
		{"same host name, no such PID", func(now time.Time) LockInfo { return LockInfo{Time: now, Host: host, PID: 1 << 30} }, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newClockStore()
			r, err := Init(ctx, s, []byte("pw"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			li := tt.info(time.Now())
			li.Exclusive, li.Purpose = true, "prune"
			putLock(t, r, li)
			s.advance(tt.age)
			checker, err := Open(ctx, s, []byte("pw"), Options{Now: func() time.Time { return time.Now().Add(tt.checker) }})
			if err != nil {
				t.Fatal(err)
			}
			l, err := checker.Lock(ctx, Shared, "backup")
			if tt.stale {
				if err != nil {
					t.Fatalf("a stale exclusive lock blocked a backup: %v", err)
				}
				if err := l.Unlock(ctx); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "exclusive lock by prune") {
				t.Fatalf("Lock = %v, want ErrLocked naming the live exclusive lock", err)
			}
			n, err := checker.RemoveStaleLocks(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.stale]; n != want {
				t.Fatalf("RemoveStaleLocks removed %d, want %d", n, want)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.stale]; countLocks(t, s) != want {
				t.Fatalf("%d lock objects left, want %d", countLocks(t, s), want)
			}
		})
	}
}

// TestLeaseRefreshes: a holder's lease outlives many stale periods, with at
// most two lock objects at a time, and nothing is left after it.
func TestLeaseRefreshes(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	opts := Options{LockStaleAfter: 1200 * time.Millisecond}
	r, err := Init(ctx, s, []byte("pw"), opts)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s, []byte("pw"), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = r.WithLock(ctx, Shared, "backup", func(ctx context.Context) error {
		deadline := time.Now().Add(opts.LockStaleAfter * 5 / 2)
		for time.Now().Before(deadline) {
			if n := countLocks(t, s); n < 1 || n > 2 {
				t.Errorf("%d lock objects for one holder", n)
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			time.Sleep(opts.LockStaleAfter / 10)
		}
		// Stale periods on, the lease is still live for others.
		if _, err := other.Lock(ctx, Exclusive, "prune"); !errors.Is(err, ErrLocked) {
			t.Errorf("exclusive lock beside a refreshed lease: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithLock = %v", err)
	}
	if n := countLocks(t, s); n != 0 {
		t.Fatalf("%d lock objects left", n)
	}
}

// TestLostLeaseCancelsWork: a lease that cannot be refreshed, or whose
// object someone removed, cancels the work's context with ErrLockLost, and
// WithLock reports it (not a plain cancellation).
func TestLostLeaseCancelsWork(t *testing.T) {
	errDown := errors.New("store down")
	for _, tt := range []struct {
		name  string
		fault func(t *testing.T, f *faulty.Store)
		want  string
	}{
		{"refresh fails", func(_ *testing.T, f *faulty.Store) { f.FailPutPrefix(KindLock.Prefix(), errDown) }, "store down"},
		{"refresh hangs", func(_ *testing.T, f *faulty.Store) { f.StallPutPrefix(KindLock.Prefix()) }, "stalled"},
		{"lock object removed", func(t *testing.T, f *faulty.Store) {
			ctx := context.Background()
			var keys []string
			f.List(ctx, KindLock.Prefix(), func(fi store.Info) error { keys = append(keys, fi.Key); return nil })
			for _, k := range keys {
				if err := f.Delete(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
		}, "removed by someone else"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := faulty.Wrap(mem.New())
			stale := 600 * time.Millisecond
			r, err := Init(ctx, f, []byte("pw"), Options{LockStaleAfter: stale})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var cause error
			err = r.WithLock(ctx, Shared, "backup", func(ctx context.Context) error {
				tt.fault(t, f)
				select {
				case <-ctx.Done():
					cause = context.Cause(ctx)
					return ctx.Err()
				case <-time.After(20 * stale):
					return errors.New("the work was not stopped")
				}
			})
			took := time.Since(start)
			if !errors.Is(cause, ErrLockLost) {
				t.Errorf("the work's context cause = %v, want ErrLockLost", cause)
			}
			if !errors.Is(err, ErrLockLost) || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WithLock = %v, want ErrLockLost saying %q", err, tt.want)
			}
			// Stopped within the half of the stale time it keeps as a
			// margin (plus slack for a loaded machine).
			if took > stale {
				t.Errorf("lost lease noticed after %v, stale after %v", took, stale)
			}
			t.Logf("%v after %v", err, took)
		})
	}
}

// TestPausedHolderLosesLease: a holder that comes back after a pause (its
// clock or the store's says so) does not carry on as if it held the lock.
func TestPausedHolderLosesLease(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		pause func(s *clockStore, l *Lock)
		want  string
	}{
		{"by its own clock", func(_ *clockStore, l *Lock) { l.lastOK = l.lastOK.Add(-StaleAfter / 2) }, "not refreshed for 15m0s (the process was paused)"},
		{"by the store's clock", func(s *clockStore, _ *Lock) { s.advance(StaleAfter * 4 / 5) }, "too late"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newClockStore()
			r, err := Init(ctx, s, []byte("pw"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			l, err := r.Lock(ctx, Shared, "backup")
			if err != nil {
				t.Fatal(err)
			}
			l.stop() // drive renew by hand
			<-l.done
			if err := l.renew(ctx); err != nil {
				t.Fatalf("renew: %v", err)
			}
			s.advance(StaleAfter / 6)
			if err := l.renew(ctx); err != nil {
				t.Fatalf("renew: %v", err)
			}
			tt.pause(s, l)
			if err := l.renew(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("renew after a pause = %v, want ErrLockLost saying %q", err, tt.want)
			}
			if err := l.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if n := countLocks(t, s); n != 0 {
				t.Fatalf("%d lock objects left", n)
			}
		})
	}
}

// TestWithLockReturnsUnlockError: a lock that cannot be released is an error.
func TestWithLockReturnsUnlockError(t *testing.T) {
	ctx := context.Background()
	s := &failDelete{Store: mem.New()}
	r, err := Init(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.fail.Store(true)
	err = r.WithLock(ctx, Shared, "backup", func(context.Context) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "release lock") {
		t.Fatalf("WithLock = %v, want the release error", err)
	}
}

// failDelete refuses Deletes while fail is set.
type failDelete struct {
	store.Store
	fail atomic.Bool
}

func (f *failDelete) Delete(ctx context.Context, key string) error {
	if f.fail.Load() {
		return errors.New("delete refused")
	}
	return f.Store.Delete(ctx, key)
}
