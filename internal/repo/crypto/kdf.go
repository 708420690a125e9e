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

// Validate rejects parameters that are unknown, too weak to be ours, or so
// large that a hostile key file could exhaust memory.
func (p KDF) Validate() error {
	switch {
	case p.Algorithm != "argon2id":
		return fmt.Errorf("crypto: unknown key derivation %q", p.Algorithm)
	case p.Time < 1 || p.Time > 100:
		return fmt.Errorf("crypto: argon2id time %d out of range 1..100", p.Time)
	case p.MemoryKiB < 8*1024 || p.MemoryKiB > 4*1024*1024:
		return fmt.Errorf("crypto: argon2id memory %d KiB out of range 8 MiB..4 GiB", p.MemoryKiB)
	case p.Threads < 1:
		return fmt.Errorf("crypto: argon2id threads %d out of range", p.Threads)
	case len(p.Salt) < 16:
		return fmt.Errorf("crypto: salt of %d bytes is too short", len(p.Salt))
	}
	return nil
}

// keyWrapAD binds a wrapped master key to its purpose.
var keyWrapAD = []byte("cairn master key")

// Wrap derives a key-encryption key from passphrase and encrypts master with it.
func (p KDF) Wrap(passphrase, master []byte) ([]byte, error) {
	aead, err := p.kek(passphrase)
	if err != nil {
		return nil, err
	}
	return seal(aead, nil, master, keyWrapAD)
}

// Unwrap recovers the master key; a wrong passphrase gives ErrAuth.
func (p KDF) Unwrap(passphrase, wrapped []byte) ([]byte, error) {
	aead, err := p.kek(passphrase)
	if err != nil {
		return nil, err
	}
	master, err := open(aead, nil, wrapped, keyWrapAD)
	if err != nil {
		return nil, err
	}
	if len(master) != KeySize {
		return nil, fmt.Errorf("crypto: unwrapped key has %d bytes: %w", len(master), ErrAuth)
	}
	return master, nil
}

func (p KDF) kek(passphrase []byte) (cipher.AEAD, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	return newAEAD(k)
}
