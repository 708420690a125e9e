package repo

import (
	"context"
	"crypto/sha256"
	"sync"

	"github.com/cairn-backup/cairn/internal/store"
)

// Keyring remembers master keys a long-running process (the node agent,
// the controller) has unwrapped, so that opening the same repository again
// with the same passphrase skips the key derivation (argon2id, 24 to 64 MiB and
// tens to hundreds of milliseconds each time). It holds keys in memory for
// the process's life, as the process holds the passphrase anyway. A
// changed passphrase, or a repository re-created under the same location,
// misses the cache and goes through the key files again, and so does one
// whose key file was removed. Safe for
// concurrent use; the zero value is ready.
type Keyring struct {
	mu   sync.Mutex
	keys map[[sha256.Size]byte]openedKey
}

// ringName identifies a passphrase for one repository without storing it.
func ringName(cfg Config, passphrase []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("cairn keyring\x00" + cfg.ID + "\x00"))
	h.Write(passphrase)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Open is repo.Open that reuses a master key unwrapped before with the same
// passphrase for the same repository. The config is checked against the
// key's binding at every Open, cached or not.
func (k *Keyring) Open(ctx context.Context, s store.Store, passphrase []byte, opts Options) (*Repository, error) {
	opts.fill()
	cfg, sum, err := readConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, ErrNoPassword
	}
	name := ringName(cfg, passphrase)
	k.mu.Lock()
	rk, ok := k.keys[name]
	k.mu.Unlock()
	if ok {
		// A key file removed since (`repo key remove`, rotation) revokes its
		// passphrase here too, as it does for a fresh process.
		if _, err := s.Stat(ctx, KindKey.Key(rk.id)); err != nil {
			ok = false
			k.mu.Lock()
			delete(k.keys, name)
			k.mu.Unlock()
		}
	}
	if !ok {
		rk, err = openMaster(ctx, s, passphrase)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		if k.keys == nil {
			k.keys = map[[sha256.Size]byte]openedKey{}
		}
		k.keys[name] = rk
		k.mu.Unlock()
	}
	if err := rk.checkConfig(sum); err != nil {
		return nil, err
	}
	r, err := newRepository(s, cfg, sum, rk, opts)
	if err != nil {
		return nil, err
	}
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	return r, nil
}
