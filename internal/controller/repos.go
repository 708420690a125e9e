package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/repo"
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
	prune map[string]bool // locations where forgotten backups await a prune
	ring  repo.Keyring    // unwrapped keys: the key derivation runs once per location, not per reconcile
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

// markPrune records that loc has forgotten snapshots whose data a prune
// would free; takePrune reads and clears it.
func (p *Repos) markPrune(loc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prune == nil {
		p.prune = map[string]bool{}
	}
	p.prune[loc] = true
}

func (p *Repos) takePrune(loc string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.prune[loc]
	delete(p.prune, loc)
	return v
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
