package statuspatch

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// backoff bounds the retries of an Outcome write: about half a minute in
// all, enough for an API server restart or a leader change of etcd.
var backoff = wait.Backoff{Steps: 8, Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Cap: 10 * time.Second}

// Outcome writes what changed in obj's status since before (a DeepCopy of
// obj taken before the change) as a merge patch of the status
// subresource, without a resourceVersion: it cannot conflict. On success
// obj is what the API server stored.
//
// before may be older than the last write: fields sent again unchanged
// are harmless, so the object as first read does.
func Outcome(ctx context.Context, c client.Client, obj, before client.Object) error {
	before = before.DeepCopyObject().(client.Object)
	before.SetResourceVersion(obj.GetResourceVersion())
	return retry.OnError(backoff, transient, func() error {
		return c.Status().Patch(ctx, obj, client.MergeFrom(before))
	})
}

// Transition writes what changed in obj's status since before as a merge
// patch that carries obj's resourceVersion: it fails with a Conflict when
// the object changed since it was read, and then the caller reads it
// again.
func Transition(ctx context.Context, c client.Client, obj, before client.Object) error {
	return c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// transient: worth trying again unchanged.
func transient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}
