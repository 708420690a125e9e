package controller

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// operations runs the long work of Backups and Restores (saving the
// resources, creating the objects, waiting for the node agents) outside
// Reconcile, at most Options.MaxOperations at once, so that a backup of
// hours leaves the reconcilers free for expiry, finalizers, schedules and
// other restores.
//
// Nothing about a run rests on this process's memory: every step a run
// reaches is written to the object's status first (phase, snapshot ID,
// planned work items), and a run found in a running phase that no
// operation of this process holds is resumed from what its status and the
// repository say (it was started by a process that died or lost its
// leadership). What operations remembers — which objects it is working on
// now — only keeps one process from running the same object twice.
//
// An operation's context is the Reconcile's, which the manager cancels
// when it stops; Start (the manager Runnable) then waits for the
// operations to return. A cancelled operation writes no outcome: the next
// leader resumes it.
type operations struct {
	slots chan struct{}

	mu      sync.Mutex
	running map[types.UID]*operation
	wg      sync.WaitGroup
}

// operation is one running operation.
type operation struct {
	wake chan struct{} // a change of what the operation waits for
}

func newOperations(n int) *operations {
	return &operations{slots: make(chan struct{}, n), running: map[types.UID]*operation{}}
}

// start runs fn for obj in the background unless an operation for obj is
// running already; it reports whether it started one. fn runs once a slot
// is free. When it returns, obj is sent to ended (if the channel has
// room), so that its controller reconciles it again: the outcome's status
// patch is no event of its own (the controllers watch generations).
func (o *operations) start(ctx context.Context, obj client.Object, ended chan<- event.GenericEvent, fn func(ctx context.Context, op *operation)) bool {
	uid := obj.GetUID()
	o.mu.Lock()
	if o.running[uid] != nil {
		o.mu.Unlock()
		return false
	}
	op := &operation{wake: make(chan struct{}, 1)}
	o.running[uid] = op
	o.wg.Add(1)
	o.mu.Unlock()
	key := obj.DeepCopyObject().(client.Object)
	go func() {
		defer o.wg.Done()
		defer func() {
			o.mu.Lock()
			delete(o.running, uid)
			o.mu.Unlock()
			select {
			case ended <- event.GenericEvent{Object: key}:
			default: // nobody listens (tests), or the controller is busy: it resyncs later
			}
		}()
		select {
		case o.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-o.slots }()
		fn(ctx, op)
	}()
	return true
}

// isRunning reports whether an operation for uid runs in this process.
func (o *operations) isRunning(uid types.UID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running[uid] != nil
}

// notify wakes the operation of uid, if one runs: something it waits for
// changed.
func (o *operations) notify(uid types.UID) {
	o.mu.Lock()
	op := o.running[uid]
	o.mu.Unlock()
	if op != nil {
		op.poke()
	}
}

// poke wakes op.
func (op *operation) poke() {
	select {
	case op.wake <- struct{}{}:
	default:
	}
}

// wait returns when the operation is woken, after d, or when ctx ends.
func (op *operation) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-op.wake:
	case <-t.C:
	case <-ctx.Done():
	}
}

// Start is the manager Runnable: it returns, once the manager stops, when
// the operations have returned.
func (o *operations) Start(ctx context.Context) error {
	<-ctx.Done()
	o.idle()
	return nil
}

// NeedLeaderElection: operations run on the leader only.
func (o *operations) NeedLeaderElection() bool { return true }

// idle waits until no operation runs.
func (o *operations) idle() { o.wg.Wait() }

// waitingForLock logs that an operation waits for the repository lock
// (repo.WaitLock).
func waitingForLock(ctx context.Context) func(error) {
	return func(err error) {
		logr.FromContextOrDiscard(ctx).Info("waiting for the repository lock another process holds", "holder", err.Error())
	}
}
