package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// Lock timing. A lock not refreshed for StaleAfter is stale: its holder is
// gone and it may be removed.
const (
	LockRefresh = 5 * time.Minute
	StaleAfter  = 30 * time.Minute
)

// LockInfo is the content of a lock object.
type LockInfo struct {
	Exclusive bool      `json:"exclusive"`
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Purpose   string    `json:"purpose"`
}

// Stale reports whether the lock's holder is gone: not refreshed for
// StaleAfter, or on this host and its process no longer exists.
func (l LockInfo) Stale(now time.Time) bool {
	if now.Sub(l.Time) > StaleAfter {
		return true
	}
	if host, _ := os.Hostname(); host == l.Host && l.PID > 0 {
		if err := syscall.Kill(l.PID, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}

func (l LockInfo) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock by %s on %s (pid %d) since %s", kind, l.Purpose, l.Host, l.PID, l.Time.Format(time.RFC3339))
}

// Lock is a held lock. Shared locks (backup, restore, forget) exclude only
// exclusive ones (prune); an exclusive lock excludes every other lock.
type Lock struct {
	r      *Repository
	info   LockInfo
	mu     sync.Mutex
	id     string
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// Lock takes a shared or exclusive lock, which it refreshes in the
// background until Unlock. A conflicting live lock gives ErrLocked, naming
// its holder; stale locks are ignored (RemoveStaleLocks deletes them).
func (r *Repository) Lock(ctx context.Context, exclusive bool, purpose string) (*Lock, error) {
	host, _ := os.Hostname()
	l := &Lock{r: r, info: LockInfo{Exclusive: exclusive, Host: host, PID: os.Getpid(), Purpose: purpose}}
	if err := l.write(ctx); err != nil {
		return nil, err
	}
	conflict, err := r.conflictingLock(ctx, l)
	if err == nil && conflict != nil {
		err = fmt.Errorf("%w: %s (if its holder is gone, run `cairn repo unlock`)", ErrLocked, conflict)
	}
	if err != nil {
		_ = r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, l.id)
		return nil, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh(context.WithoutCancel(ctx))
	return l, nil
}

func (l *Lock) write(ctx context.Context) error {
	l.info.Time = l.r.now().UTC()
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	id, err := l.r.SaveUnpacked(ctx, KindLock, b)
	if err != nil {
		return fmt.Errorf("repo: write lock: %w", err)
	}
	l.id = id
	return nil
}

func (r *Repository) conflictingLock(ctx context.Context, own *Lock) (*LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	now := r.now()
	for id, li := range locks {
		if id == own.id || li.Stale(now) {
			continue
		}
		if own.info.Exclusive || li.Exclusive {
			return &li, nil
		}
	}
	return nil, nil
}

// Locks returns every lock in the repository by ID.
func (r *Repository) Locks(ctx context.Context) (map[string]LockInfo, error) {
	out := map[string]LockInfo{}
	err := r.List(ctx, KindLock, func(id string, _ int64) error {
		b, err := r.LoadUnpacked(ctx, KindLock, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil // released meanwhile
		}
		if err != nil {
			return err
		}
		var li LockInfo
		if err := json.Unmarshal(b, &li); err != nil {
			return fmt.Errorf("repo: lock %s: %v: %w", short(id), err, ErrCorrupt)
		}
		out[id] = li
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list locks: %w", err)
	}
	return out, nil
}

// RemoveStaleLocks deletes locks whose holders are gone (all locks when
// all is set) and returns how many it removed.
func (r *Repository) RemoveStaleLocks(ctx context.Context, all bool) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for id, li := range locks {
		if all || li.Stale(r.now()) {
			if err := r.DeleteUnpacked(ctx, KindLock, id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// refresh replaces the lock object with a fresh one every LockRefresh: the
// new object is written before the old one is deleted, so the lock is never
// absent, and no object is ever rewritten.
func (l *Lock) refresh(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			old := l.id
			if err := l.write(ctx); err == nil {
				_ = l.r.DeleteUnpacked(ctx, KindLock, old)
			}
			l.mu.Unlock()
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	if err := l.r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, l.id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
