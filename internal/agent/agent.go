package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=podvolumebackups;podvolumerestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=podvolumebackups/status;podvolumerestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cairn.dev,resources=backuplocations,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes,verbs=get
// +kubebuilder:rbac:groups=cairn.dev,resources=restores,verbs=get
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update

// Defaults.
const (
	DefaultConcurrency = 2
)

// Options configure the agent.
type Options struct {
	// Node is the agent's node (NODE_NAME); only work items for it are
	// taken.
	Node string
	// Namespace holds the work items, BackupLocations and their Secrets.
	Namespace string
	// Root is the kubelet's pods directory (default /var/lib/kubelet/pods).
	Root string
	// Concurrency bounds the volumes backed up and restored at once, each
	// (default 2).
	Concurrency int
	// ProgressInterval is how often progress is written (default 5s).
	ProgressInterval time.Duration
	// ReleaseInterval is how often restored pods made after their restore
	// ended are looked for (default ReleaseInterval).
	ReleaseInterval time.Duration
	// LockWait bounds how long a work item waits for a repository lock
	// another process holds (a prune's exclusive lock) before it fails
	// (default DefaultLockWait).
	LockWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultLockWait is how long work waits for a prune to release the
// repository by default.
const DefaultLockWait = time.Hour

func (o *Options) fill() error {
	if o.Node == "" {
		return errors.New("agent: no node name (set NODE_NAME)")
	}
	if o.Namespace == "" {
		return errors.New("agent: no namespace")
	}
	if o.Root == "" {
		o.Root = podvolume.DefaultRoot
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.LockWait <= 0 {
		o.LockWait = DefaultLockWait
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 5 * time.Second
	}
	if o.ReleaseInterval <= 0 {
		o.ReleaseInterval = ReleaseInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// base is what both reconcilers share: c reads (cached: the work items)
// and writes; api reads pods, claims, volumes and Secrets uncached.
type base struct {
	c   client.Client
	api client.Reader
	o   Options

	mu      sync.Mutex
	started map[string]bool // UIDs of work items this process started
	// repos keeps each location's repository open between work items: one
	// key derivation and one full index read per location, not per volume.
	repos location.Pool
	// snaps holds the snapshots read so far: finding a volume's parent
	// reads only the snapshots written since the last work item.
	snaps snapshot.Cache
}

func (b *base) markStarted(uid any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.started[fmt.Sprint(uid)] = true
}

func (b *base) startedHere(uid any) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.started[fmt.Sprint(uid)]
}

// watchItems registers r for the work items like obj that mine accepts
// (those of this node), 2 × Concurrency at a time (see slots).
func (b *base) watchItems(mgr ctrl.Manager, name string, obj client.Object, mine func(client.Object) bool, r reconcile.Reconciler) error {
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		For(obj, builder.WithPredicates(predicate.NewPredicateFuncs(mine))).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2 * b.o.Concurrency}).
		Complete(r)
}

// slots bound the volumes a reconciler reads or writes at once
// (Concurrency). It reconciles twice as many work items at once, so that
// their API reads and status writes overlap the others' data.
type slots chan struct{}

// take waits for a slot; call release when done with the volume's data.
func (s slots) take(ctx context.Context) (release func(), err error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *base) metaNow() *metav1.Time {
	t := metav1.NewTime(b.o.Now().UTC().Truncate(time.Second))
	return &t
}

// Setup registers the agent's reconcilers and its lease with mgr, whose
// cache must cover o.Namespace.
func Setup(mgr ctrl.Manager, o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	b := &base{c: mgr.GetClient(), api: mgr.GetAPIReader(), o: o, started: map[string]bool{}}
	if err := (&BackupReconciler{base: b, slots: make(slots, o.Concurrency)}).setup(mgr); err != nil {
		return fmt.Errorf("agent: backup reconciler: %w", err)
	}
	if err := (&RestoreReconciler{base: b, slots: make(slots, o.Concurrency)}).setup(mgr); err != nil {
		return fmt.Errorf("agent: restore reconciler: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return b.releaseLate(ctx, o.ReleaseInterval)
	})); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return agentlease.Heartbeat(ctx, mgr.GetClient(), o.Namespace, o.Node, o.Now)
	}))
}

// volumeDir returns the folder of pod's volume on this node, and the
// volume.
func (b *base) volumeDir(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	v, ok := podvolume.VolumeOf(pod, name)
	if !ok {
		return "", fmt.Errorf("pod %s/%s has no PVC or emptyDir volume %q", pod.Namespace, pod.Name, name)
	}
	var pv *corev1.PersistentVolume
	if v.Kind == podvolume.KindPVC {
		var pvc corev1.PersistentVolumeClaim
		if err := b.api.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: v.PVC}, &pvc); err != nil {
			return "", fmt.Errorf("claim %s/%s: %w", pod.Namespace, v.PVC, err)
		}
		if pvc.Spec.VolumeName != "" {
			pv = &corev1.PersistentVolume{}
			if err := b.api.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
				return "", fmt.Errorf("PersistentVolume %s of claim %s/%s: %w", pvc.Spec.VolumeName, pod.Namespace, v.PVC, err)
			}
		}
	}
	return podvolume.Dir(b.o.Root, pod.UID, v, pv)
}

// pod returns the pod ref names, checking its UID.
func (b *base) pod(ctx context.Context, ref cairnv1.PodRef) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := b.api.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &pod); err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if ref.UID != "" && pod.UID != ref.UID {
		return nil, fmt.Errorf("pod %s/%s: %w: it was replaced (uid %s, want %s)", ref.Namespace, ref.Name, errGone, pod.UID, ref.UID)
	}
	return &pod, nil
}

var errGone = errors.New("pod gone")

// withLockedRepo opens the repository of BackupLocation name (or takes it
// open from an earlier work item), takes a shared lock (unless the location
// is ReadOnly) and runs fn, whose context is cancelled if the lock is lost.
func (b *base) withLockedRepo(ctx context.Context, name, purpose string, fn func(context.Context, *repo.Repository) error) error {
	var loc cairnv1.BackupLocation
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.o.Namespace, Name: name}, &loc); err != nil {
		return fmt.Errorf("BackupLocation %q: %w", name, err)
	}
	for attempt := 0; ; attempt++ {
		l, err := b.repos.Get(ctx, b.api, &loc)
		if err != nil {
			return fmt.Errorf("BackupLocation %s: %w", name, err)
		}
		err = b.locked(ctx, l, loc.Spec.AccessMode != cairnv1.ReadOnly, purpose, fn)
		var stale staleError
		if errors.As(err, &stale) && attempt == 0 {
			// Re-created, a key removed, or unreadable since the last
			// work item: open it afresh (which reports a revoked key).
			ctrl.LoggerFrom(ctx).Info("repository kept open is stale; opening it again", "location", name, "reason", stale.error.Error())
			continue
		}
		return err
	}
}

// staleError: a repository kept open could not be brought up to date.
type staleError struct{ error }

// locked runs fn on l's repository under a shared lock (when lock) and
// gives it back to the pool.
func (b *base) locked(ctx context.Context, l *location.Lease, lock bool, purpose string, fn func(context.Context, *repo.Repository) error) (err error) {
	defer func() { l.Release(err == nil) }()
	run := func(ctx context.Context) error {
		if err := l.Fresh(ctx); err != nil {
			return staleError{err}
		}
		return fn(ctx, l.Repository)
	}
	if !lock {
		return run(ctx)
	}
	// Waits while a prune holds the repository (up to LockWait).
	return l.WaitLock(ctx, repo.Shared, purpose, b.o.LockWait, func(err error) {
		ctrl.LoggerFrom(ctx).Info("waiting for the repository lock", "purpose", purpose, "holder", err.Error())
	}, run)
}

// progress calls write every interval until stop is closed.
func progress(interval time.Duration, stop <-chan struct{}, write func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			write()
		}
	}
}
