package backup

import (
	"context"
	"sync"
)

// pool runs jobs in goroutines and keeps the first error, cancelling the
// others. Concurrency of the work that matters (LIST pages) is bounded by
// the lister's semaphore; jobs themselves are cheap goroutines.
type pool struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newPool(ctx context.Context) *pool {
	p := &pool{}
	p.ctx, p.cancel = context.WithCancel(ctx)
	return p
}

func (p *pool) Go(fn func(ctx context.Context) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(p.ctx); err != nil {
			p.once.Do(func() { p.err = err; p.cancel() })
		}
	}()
}

// Wait waits for every job, including jobs started by jobs.
func (p *pool) Wait() error {
	p.wg.Wait()
	p.cancel()
	return p.err
}
