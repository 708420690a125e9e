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

// DefaultKDF returns the parameters new keys get: argon2id with 24 MiB of
// memory, 3 passes and 4 lanes, and a fresh 16-byte salt.
//
// Until issue 15 they were 64 MiB and 1 pass. An attacker's cost per guess
// grows with memory × passes (the area-time product): 72 MiB-passes now
// against 64 before, so guessing is at least as expensive; and it is above
// OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane).
// What changes is the defender's peak memory: every command that opens a
// repository held the 64 MiB at once, which was most of a small command's
// resident memory; now 24 MiB. It is also faster here (≈ 80 against ≈ 100+
// ms on 2 cores: fewer fresh pages to fault in). Old key files keep their
// own parameters and open as before; `key passwd` moves a key to these.
func DefaultKDF() (KDF, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return KDF{}, fmt.Errorf("crypto: salt: %w", err)
	}
	return KDF{Algorithm: "argon2id", Time: 3, MemoryKiB: 24 << 10, Threads: 4, Salt: salt}, nil
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
