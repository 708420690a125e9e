package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDF names the passphrase key-derivation function and its parameters. The
// parameters are stored in every key file, so they can be raised for new
// keys without touching old ones.
type KDF struct {
	Algorithm string `json:"algorithm"` // "argon2id"
	Time      uint32 `json:"time"`      // passes
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

// DefaultKDF returns argon2id with 64 MiB of memory, 1 pass and 4 lanes and
// a fresh 16-byte salt. That is above OWASP's recommended minimum for
// argon2id (46 MiB, 1 pass, 1 lane) and costs about 40 ms here, so opening
// a repository stays fast enough for frequent small backups; the parameters
// live in each key file, so stronger ones can be chosen per key.
func DefaultKDF() (KDF, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return KDF{}, fmt.Errorf("crypto: salt: %w", err)
	}
	return KDF{Algorithm: "argon2id", Time: 1, MemoryKiB: 64 * 1024, Threads: 4, Salt: salt}, nil
}

// Bounds on the parameters a key file may ask for. A key file is plaintext
// in the store, so anyone who can write there can ask for anything: the
// upper bounds keep one from exhausting the memory (the node agent runs in
// 2 GiB) or the time of whoever opens the repository. They are part of the
// format (docs/design/repository-format.md §3).
const (
	MinMemoryKiB = 8 << 10 // 8 MiB
	MaxMemoryKiB = 1 << 20 // 1 GiB
	MaxTime      = 16
	MaxThreads   = 64
	MinSalt      = 16
	MaxSalt      = 64
)

// Validate rejects parameters that are unknown, too weak to be ours, or so
// large that a hostile key file could exhaust memory or time. It allocates
// nothing.
func (p KDF) Validate() error {
	switch {
	case p.Algorithm != "argon2id":
		return fmt.Errorf("crypto: unknown key derivation %q", p.Algorithm)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("crypto: argon2id time %d out of range 1..%d", p.Time, MaxTime)
	case p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("crypto: argon2id memory %d KiB out of range %d..%d KiB (8 MiB..1 GiB)", p.MemoryKiB, MinMemoryKiB, MaxMemoryKiB)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("crypto: argon2id threads %d out of range 1..%d", p.Threads, MaxThreads)
	case len(p.Salt) < MinSalt || len(p.Salt) > MaxSalt:
		return fmt.Errorf("crypto: salt of %d bytes out of range %d..%d", len(p.Salt), MinSalt, MaxSalt)
	}
	return nil
}

// keyWrapAD binds a wrapped master key to its purpose.
var keyWrapAD = []byte("cairn master key")

// Wrap derives a key-encryption key from passphrase and encrypts secret
// (the master key, and what the repository binds to it) with it.
func (p KDF) Wrap(passphrase, secret []byte) ([]byte, error) {
	aead, err := p.kek(passphrase)
	if err != nil {
		return nil, err
	}
	return seal(aead, nil, secret, keyWrapAD)
}

// Unwrap recovers the secret Wrap encrypted; a wrong passphrase gives ErrAuth.
func (p KDF) Unwrap(passphrase, wrapped []byte) ([]byte, error) {
	aead, err := p.kek(passphrase)
	if err != nil {
		return nil, err
	}
	return open(aead, nil, wrapped, keyWrapAD)
}

func (p KDF) kek(passphrase []byte) (cipher.AEAD, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	return newAEAD(k)
}
