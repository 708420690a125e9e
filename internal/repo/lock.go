package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// StaleAfter is how long a lock lives without being refreshed (the
// default of Options.LockStaleAfter): a lock object that the store stamped
// more than StaleAfter before the checker's own freshly written lock object
// is stale, and ignored.
const StaleAfter = 30 * time.Minute

// A lock is a lease on the repository. Its holder refreshes it every sixth
// of the stale time, and gives it up (cancelling the work it guards) when
// it could not refresh it for half the stale time, or when it finds its
// lock object gone or its refresh came so late that others may already
// have judged it stale. The other half is the margin within which the
// work must stop, before anyone else may take the repository.
const (
	refreshDivisor = 6 // refresh every stale/6
	giveUpDivisor  = 2 // lost after stale/2 without a refresh
	retryDivisor   = 30
)

// LockMode says which locks a lock excludes.
type LockMode bool

const (
	// Shared locks (backup, restore, forget, check) exclude only exclusive ones.
	Shared LockMode = false
	// Exclusive locks (prune) exclude every other lock.
	Exclusive LockMode = true
)

func (m LockMode) String() string {
	if m == Exclusive {
		return "exclusive"
	}
	return "shared"
}

// LockInfo is the content of a lock object, plus (Stored) when the store
// wrote it. Time, Host and PID are for people: staleness is judged by
// Stored alone, which the store's clock stamps and no holder can forge.
type LockInfo struct {
	Exclusive bool      `json:"exclusive"`
	Time      time.Time `json:"time"` // the holder's clock at writing
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Purpose   string    `json:"purpose"`
	// Stored is the object's modification time by the store's clock.
	Stored time.Time `json:"-"`
}

// Stale reports whether the lock's holder is gone: ref, the store's
// modification time of an object the checker has just written, is more
// than staleAfter after the lock object's. A store that reports no time
// leaves every lock live (remove such locks by hand).
func (l LockInfo) Stale(ref time.Time, staleAfter time.Duration) bool {
	if ref.IsZero() || l.Stored.IsZero() {
		return false
	}
	return ref.Sub(l.Stored) > staleAfter
}

func (l LockInfo) String() string {
	kind := Shared
	if l.Exclusive {
		kind = Exclusive
	}
	return fmt.Sprintf("%s lock by %s on %s (pid %d) since %s", kind, l.Purpose, l.Host, l.PID, l.Time.Format(time.RFC3339))
}

// Lock is a held lock: a lease the repository's other users honour while
// it is refreshed. Lost is closed when it is lost; Err then says why.
type Lock struct {
	r     *Repository
	info  LockInfo
	stale time.Duration

	// Owned by the refresh goroutine until done is closed.
	ids    []string  // our lock objects, oldest first, newest confirmed last (at most 2)
	strays []string  // objects written whose refresh did not complete
	stored time.Time // store time of the newest confirmed object
	lastOK time.Time // our clock before the newest confirmed object was written
	failed error     // why the last renewal failed, if it did

	stop   context.CancelFunc
	done   chan struct{}
	lost   chan struct{}
	onLost func(error)

	mu      sync.Mutex
	lostErr error
	closed  bool
}

// Lock takes a shared or exclusive lock, which it refreshes in the
// background until Unlock. A conflicting live lock gives ErrLocked, naming
// its holder; stale locks are ignored (RemoveStaleLocks deletes them).
// Prefer WithLock, which stops the work when the lock is lost.
func (r *Repository) Lock(ctx context.Context, mode LockMode, purpose string) (*Lock, error) {
	return r.lock(ctx, mode, purpose, nil)
}

func (r *Repository) lock(ctx context.Context, mode LockMode, purpose string, onLost func(error)) (*Lock, error) {
	host, _ := os.Hostname()
	l := &Lock{
		r: r, info: LockInfo{Exclusive: mode == Exclusive, Host: host, PID: os.Getpid(), Purpose: purpose},
		stale: r.opts.LockStaleAfter, lost: make(chan struct{}), done: make(chan struct{}), onLost: onLost,
	}
	start := time.Now()
	id, stored, err := l.write(ctx)
	if err != nil {
		for _, s := range l.strays {
			_ = r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, s)
		}
		return nil, err
	}
	l.ids, l.stored, l.lastOK = []string{id}, stored, start
	conflict, err := r.conflictingLock(ctx, l)
	if err == nil && conflict != nil {
		err = fmt.Errorf("%w: %s", ErrLocked, conflict)
	}
	if err != nil {
		_ = r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, id)
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	go l.refresh(rctx)
	return l, nil
}

// write stores a new lock object and returns its ID and the store's
// modification time of it.
func (l *Lock) write(ctx context.Context) (string, time.Time, error) {
	info := l.info
	info.Time = l.r.now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return "", time.Time{}, err
	}
	id, err := l.r.SaveUnpacked(ctx, KindLock, b)
	if err != nil {
		return "", time.Time{}, err
	}
	fi, err := l.r.store.Stat(ctx, KindLock.Key(id))
	if err != nil {
		l.strays = append(l.strays, id)
		return "", time.Time{}, fmt.Errorf("repo: stat lock %s: %w", short(id), err)
	}
	return id, fi.ModTime, nil
}

func (r *Repository) conflictingLock(ctx context.Context, own *Lock) (*LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	for id, li := range locks {
		if id == own.ids[0] || li.Stale(own.stored, own.stale) {
			continue
		}
		if own.info.Exclusive || li.Exclusive {
			return &li, nil
		}
	}
	return nil, nil
}

// Locks returns every lock in the repository by the ID of its object.
func (r *Repository) Locks(ctx context.Context) (map[string]LockInfo, error) {
	out := map[string]LockInfo{}
	prefix := KindLock.Prefix()
	err := r.store.List(ctx, prefix, func(fi store.Info) error {
		id := fi.Key[len(prefix):]
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
		li.Stored = fi.ModTime
		out[id] = li
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list locks: %w", err)
	}
	return out, nil
}

// RemoveStaleLocks deletes locks whose holders are gone (all locks when
// all is set) and returns how many lock objects it removed. The store's
// clock judges: it writes a probe lock object to learn the store's time.
// A holder that crashed leaves a lock that goes stale StaleAfter after its
// last refresh; before that only all removes it.
func (r *Repository) RemoveStaleLocks(ctx context.Context, all bool) (int, error) {
	var ref time.Time
	if !all {
		var err error
		if ref, err = r.storeNow(ctx); err != nil {
			return 0, err
		}
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for id, li := range locks {
		if all || li.Stale(ref, r.opts.LockStaleAfter) {
			if err := r.DeleteUnpacked(ctx, KindLock, id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// storeNow is the store's clock: the modification time of a probe lock
// object, written and removed again.
func (r *Repository) storeNow(ctx context.Context) (time.Time, error) {
	probe := &Lock{r: r, info: LockInfo{Purpose: "clock probe (repo unlock)", PID: os.Getpid()}}
	probe.info.Host, _ = os.Hostname()
	id, t, err := probe.write(ctx)
	for _, s := range probe.strays {
		_ = r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, s)
	}
	if err != nil {
		return time.Time{}, err
	}
	if err := r.DeleteUnpacked(context.WithoutCancel(ctx), KindLock, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, err
	}
	return t, nil
}

// refresh renews the lease every stale/6 until Unlock (ctx is cancelled)
// or the lease is lost. A failed renewal is retried every stale/30.
func (l *Lock) refresh(ctx context.Context) {
	defer close(l.done)
	every, retry := l.stale/refreshDivisor, l.stale/retryDivisor
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.renew(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLockLost):
			l.lose(err)
			return
		case err != nil:
			l.failed = err
			t.Reset(retry)
		default:
			l.failed = nil
			t.Reset(every)
		}
	}
}

// renew writes a new lock object and deletes all but the newest two: the
// previous object stays while the next one is written, so a concurrent
// listing always sees one that neither appears nor disappears under it,
// and no object is ever rewritten. It returns an error wrapping
// ErrLockLost when the lease is lost, another error when this renewal
// failed but may be retried.
func (l *Lock) renew(ctx context.Context) error {
	left := l.stale/giveUpDivisor - since(l.lastOK)
	if left <= 0 {
		why := "the process was paused"
		if l.failed != nil {
			why = "last error: " + l.failed.Error()
		}
		return fmt.Errorf("repo: %s lock not refreshed for %s (%s): %w", l.mode(), since(l.lastOK).Round(time.Millisecond), why, ErrLockLost)
	}
	wctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	newest := l.ids[len(l.ids)-1]
	if _, err := l.r.store.Stat(wctx, KindLock.Key(newest)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("repo: %s lock object %s was removed by someone else: %w", l.mode(), short(newest), ErrLockLost)
	} else if err != nil {
		return fmt.Errorf("repo: refresh lock: %w", err)
	}
	start := time.Now()
	id, stored, err := l.write(wctx)
	if err != nil {
		return err
	}
	if gap := stored.Sub(l.stored); !l.stored.IsZero() && !stored.IsZero() && gap > l.stale*3/4 {
		l.ids = append(l.ids, id)
		return fmt.Errorf("repo: %s lock refreshed %s after its previous refresh by the store's clock, too late to be sure no one judged it stale: %w",
			l.mode(), gap.Round(time.Millisecond), ErrLockLost)
	}
	l.ids, l.stored, l.lastOK = append(l.ids, id), stored, start
	for len(l.ids) > 2 {
		err := l.r.DeleteUnpacked(ctx, KindLock, l.ids[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("repo: %s lock object %s was removed by someone else: %w", l.mode(), short(l.ids[0]), ErrLockLost)
		}
		if err != nil {
			l.strays = append(l.strays, l.ids[0])
		}
		l.ids = l.ids[1:]
	}
	var kept []string
	for _, s := range l.strays {
		if err := l.r.DeleteUnpacked(ctx, KindLock, s); err != nil && !errors.Is(err, store.ErrNotFound) {
			kept = append(kept, s)
		}
	}
	l.strays = kept
	return nil
}

// since is how long ago t was by the monotonic clock or the wall clock,
// whichever says longer (the monotonic clock stops while the machine
// sleeps).
func since(t time.Time) time.Duration {
	d := time.Since(t)
	if w := time.Now().Round(0).Sub(t.Round(0)); w > d {
		d = w
	}
	return d
}

func (l *Lock) mode() LockMode { return LockMode(l.info.Exclusive) }

func (l *Lock) lose(err error) {
	l.mu.Lock()
	l.lostErr = err
	l.mu.Unlock()
	close(l.lost)
	if l.onLost != nil {
		l.onLost(err)
	}
}

// Lost is closed when the lock is lost.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err is nil while the lock is held; once it is lost, an error wrapping
// ErrLockLost that says why.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Unlock releases the lock: it stops the refreshing and deletes the lock
// objects. Calling it again does nothing.
func (l *Lock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.stop()
	<-l.done
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, id := range append(l.ids, l.strays...) {
		if err := l.r.DeleteUnpacked(ctx, KindLock, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("repo: release lock: %w", errors.Join(errs...))
	}
	return nil
}

// WithLock runs fn holding a lock of mode on r. fn's context is cancelled
// when the lock is lost — not refreshed in time, or removed by someone
// else — and WithLock then returns an error wrapping ErrLockLost (whatever
// fn returned, the work may be incomplete). Otherwise it returns fn's
// error, joined with the error of releasing the lock, if any.
func (r *Repository) WithLock(ctx context.Context, mode LockMode, purpose string, fn func(ctx context.Context) error) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, err := r.lock(ctx, mode, purpose, cancel)
	if err != nil {
		return err
	}
	ferr := fn(lctx)
	uerr := l.Unlock(ctx)
	if lost := l.Err(); lost != nil {
		if errors.Is(ferr, context.Canceled) {
			ferr = nil // the cancellation lost reports
		}
		return errors.Join(lost, ferr, uerr)
	}
	if uerr == nil {
		return ferr
	}
	return errors.Join(ferr, uerr)
}
