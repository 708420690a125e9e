package kopia

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha3"
	"fmt"
	"hash"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// crypter decrypts contents and index blobs and checks contents against
// their hash.
type crypter struct {
	secret  []byte // per-content key derivation key
	newAEAD func(key []byte) (cipher.AEAD, error)
	newHash func() (hash.Hash, error)
	hashLen int
}

func newCrypter(cfg *config) (*crypter, error) {
	f := &cfg.Format
	c := &crypter{}
	switch f.Encryption {
	case "AES256-GCM-HMAC-SHA256":
		c.newAEAD = func(key []byte) (cipher.AEAD, error) {
			blk, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			return cipher.NewGCM(blk)
		}
	case "CHACHA20-POLY1305-HMAC-SHA256":
		c.newAEAD = chacha20poly1305.New
	default:
		return nil, fmt.Errorf("content encryption %q (this reader knows AES256-GCM-HMAC-SHA256 and CHACHA20-POLY1305-HMAC-SHA256): %w", f.Encryption, ErrUnsupported)
	}
	secret, err := hkdf.Key(sha256.New, f.MasterKey, []byte("encryption"), "", 32)
	if err != nil {
		return nil, err
	}
	c.secret = secret
	key := f.Secret
	keyed := func(n func([]byte) (hash.Hash, error), size int) {
		c.newHash, c.hashLen = func() (hash.Hash, error) { return n(key) }, size
	}
	hmacOf := func(h func() hash.Hash, size int) {
		c.newHash, c.hashLen = func() (hash.Hash, error) { return hmac.New(h, key), nil }, size
	}
	switch f.Hash {
	case "BLAKE2B-256-128":
		keyed(blake2b.New256, 16)
	case "BLAKE2B-256":
		keyed(blake2b.New256, 32)
	case "BLAKE2S-128":
		keyed(blake2s.New256, 16)
	case "BLAKE2S-256":
		keyed(blake2s.New256, 32)
	case "BLAKE3-256":
		keyed(newBlake3, 32)
	case "BLAKE3-256-128":
		keyed(newBlake3, 16)
	case "HMAC-SHA256":
		hmacOf(sha256.New, 32)
	case "HMAC-SHA256-128":
		hmacOf(sha256.New, 16)
	case "HMAC-SHA224":
		hmacOf(sha256.New224, 28)
	case "HMAC-SHA3-224":
		hmacOf(func() hash.Hash { return sha3.New224() }, 28)
	case "HMAC-SHA3-256":
		hmacOf(func() hash.Hash { return sha3.New256() }, 32)
	default:
		return nil, fmt.Errorf("hash %q: %w", f.Hash, ErrUnsupported)
	}
	if _, err := c.newHash(); err != nil {
		return nil, fmt.Errorf("hash %s: %v: %w", f.Hash, err, ErrUnsupported)
	}
	return c, nil
}

// newBlake3 is keyed BLAKE3; a key shorter than 32 bytes is first made
// into one with BLAKE3's key derivation (context "kopia blake3 derived
// key v1"), as kopia describes.
func newBlake3(key []byte) (hash.Hash, error) {
	if len(key) < 32 {
		var k [32]byte
		blake3.DeriveKey("kopia blake3 derived key v1", key, k[:])
		key = k[:]
	}
	return blake3.NewKeyed(key[:32])
}

// decrypt opens sealed (nonce first) with the key of iv, which is also
// the associated data.
func (c *crypter) decrypt(sealed, iv []byte) ([]byte, error) {
	m := hmac.New(sha256.New, c.secret)
	m.Write(iv)
	aead, err := c.newAEAD(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, fmt.Errorf("%d bytes: too short to decrypt: %w", len(sealed), ErrCorrupt)
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], iv)
	if err != nil {
		return nil, fmt.Errorf("does not decrypt: %w", ErrCorrupt)
	}
	return plain, nil
}

// sum is the content hash of data.
func (c *crypter) sum(data []byte) []byte {
	h, _ := c.newHash() // checked in newCrypter
	h.Write(data)
	return h.Sum(nil)[:c.hashLen]
}
