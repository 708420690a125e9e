package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// Repos opens the repositories of BackupLocations. Work on one location is
// serialized within the process (a backup, a forget and a prune of one
// repository never interleave here; other processes are kept apart by the
// repository's locks). A repository is opened for each piece of work and
// closed after it, so that it always sees what others wrote.
type Repos struct {
	// Secrets reads the passphrase and credentials Secrets (uncached: the
	// controller needs only get on them, not list or watch).
	Secrets client.Reader

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	ring  repo.Keyring // unwrapped keys: the key derivation runs once per location, not per reconcile
}

// errLocation marks a location that cannot be used: a Secret is missing,
// the URL is wrong, the repository does not open.
var errLocation = errors.New("backup location unavailable")

func (p *Repos) lockFor(name string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locks == nil {
		p.locks = map[string]*sync.Mutex{}
	}
	if p.locks[name] == nil {
		p.locks[name] = &sync.Mutex{}
	}
	return p.locks[name]
}

// requestPrune records in loc's status that a backup was forgotten whose
// data a prune would free (status.pruneRequested); the location's next
// sync prunes.
func requestPrune(ctx context.Context, c client.Client, loc *cairnv1.BackupLocation, now *metav1.Time) error {
	before := loc.DeepCopy()
	before.Status.PruneRequested = nil // so that the patch always carries the time
	loc.Status.PruneRequested = now
	if err := statuspatch.Outcome(ctx, c, loc, before); err != nil {
		return fmt.Errorf("record that location %s needs a prune: %w", loc.Name, err)
	}
	return nil
}

// Read opens loc's repository for work that only reads it (a check),
// without waiting for the location's other work in this process; fn must
// take the repository's lock itself. Errors opening it wrap errLocation.
func (p *Repos) Read(ctx context.Context, loc *cairnv1.BackupLocation, fn func(r *repo.Repository) error) error {
	r, err := location.OpenWith(ctx, p.Secrets, loc, &p.ring)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errLocation, loc.Name, err)
	}
	defer r.Close()
	return fn(r)
}

// With opens loc's repository, runs fn on it and closes it. Errors opening
// it wrap errLocation.
func (p *Repos) With(ctx context.Context, loc *cairnv1.BackupLocation, fn func(r *repo.Repository) error) error {
	mu := p.lockFor(loc.Name)
	mu.Lock()
	defer mu.Unlock()
	r, err := location.OpenWith(ctx, p.Secrets, loc, &p.ring)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errLocation, loc.Name, err)
	}
	defer r.Close()
	return fn(r)
}
