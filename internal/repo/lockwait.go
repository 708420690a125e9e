package repo

import (
	"context"
	"errors"
	"time"
)

// LockRetry is how often WaitLock tries again to take a lock another
// process holds (more often for a short wait: a quarter of it).
const LockRetry = 15 * time.Second

// WaitLock is WithLock that, while a conflicting lock is held (ErrLocked:
// a prune holds the exclusive lock, or a backup the shared one a prune
// needs), tries again every LockRetry for up to wait, calling waiting (if
// not nil) with the holder's error before each pause. A scheduled backup
// that meets a prune then runs after it, instead of failing. An ErrLocked
// returned by fn itself is not retried.
func (r *Repository) WaitLock(ctx context.Context, mode LockMode, purpose string, wait time.Duration, waiting func(error), fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(wait)
	every := min(LockRetry, max(wait/4, 10*time.Millisecond))
	for {
		ran := false
		err := r.WithLock(ctx, mode, purpose, func(ctx context.Context) error {
			ran = true
			return fn(ctx)
		})
		if ran || !errors.Is(err, ErrLocked) || !time.Now().Add(every).Before(deadline) {
			return err
		}
		if waiting != nil {
			waiting(err)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
