package location

import (
	"context"
	"crypto/sha256"
	"strconv"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
)

// DefaultIdle is how long a Pool keeps an unused repository open.
const DefaultIdle = time.Minute

// Pool keeps repositories open between the jobs of a long-running process
// (the node agent backs up one volume per job): a job takes an open one of
// its BackupLocation if there is one idle, so that it does not read the
// config, key and every index file again, and gives it back when done. A
// repository is shared by one job at a time; an idle one is closed after
// Idle. A changed BackupLocation spec or passphrase opens a new one.
// Safe for concurrent use; the zero value is ready.
type Pool struct {
	// Ring caches unwrapped keys for the repositories the pool opens.
	Ring repo.Keyring
	// Idle is how long an unused repository stays open (default DefaultIdle).
	Idle time.Duration
	// Now is the clock (default time.Now): a repository unused for Idle
	// by it is never handed out again, even before its timer closed it.
	Now func() time.Time

	mu   sync.Mutex
	idle map[[sha256.Size]byte][]*pooled
}

type pooled struct {
	r     *repo.Repository
	timer *time.Timer
	at    time.Time // released
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pool) idleFor() time.Duration {
	if p.Idle <= 0 {
		return DefaultIdle
	}
	return p.Idle
}

// Lease is a repository taken from a Pool for one job.
type Lease struct {
	// Repository is the open repository.
	*repo.Repository
	p      *Pool
	key    [sha256.Size]byte
	reused bool
}

// Get returns loc's repository for one job. Call Fresh on it once the job
// holds the repository's lock, and Release when the job has ended.
func (p *Pool) Get(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) (*Lease, error) {
	pass, err := passphrase(ctx, secrets, loc)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(string(loc.UID) + "\x00" + strconv.FormatInt(loc.Generation, 10) + "\x00"))
	h.Write(pass)
	var key [sha256.Size]byte
	h.Sum(key[:0])

	p.mu.Lock()
	if list := p.idle[key]; len(list) > 0 {
		e := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		if e.timer.Stop() {
			if p.now().Sub(e.at) < p.idleFor() {
				clear(pass)
				return &Lease{Repository: e.r, p: p, key: key, reused: true}, nil
			}
			e.r.Close() // unused too long; its timer had not fired yet
		}
		// Its idle time ran out as we took it: the timer closes it.
		p.mu.Lock()
	}
	p.mu.Unlock()
	r, err := openWithPassphrase(ctx, secrets, loc, &p.Ring, pass)
	if err != nil {
		return nil, err
	}
	return &Lease{Repository: r, p: p, key: key}, nil
}

// Fresh brings a repository that was open before up to date with its store
// (repo.Repository.Refresh); call it holding the repository's lock, before
// the job reads or writes. A newly opened one is fresh already.
func (l *Lease) Fresh(ctx context.Context) error {
	if !l.reused {
		return nil
	}
	return l.Refresh(ctx)
}

// Release ends the job: the repository goes back to the pool when keep
// (the job succeeded, so the repository holds no half-written state), and
// is closed otherwise.
func (l *Lease) Release(keep bool) {
	if !keep {
		l.Close()
		return
	}
	p := l.p
	idle := p.idleFor()
	e := &pooled{r: l.Repository, at: p.now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	e.timer = time.AfterFunc(idle, func() {
		p.mu.Lock()
		list := p.idle[l.key]
		for i, x := range list {
			if x == e {
				p.idle[l.key] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		e.r.Close()
	})
	if p.idle == nil {
		p.idle = map[[sha256.Size]byte][]*pooled{}
	}
	p.idle[l.key] = append(p.idle[l.key], e)
}
