package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// KeySize is the size of the master key and of every derived key.
const KeySize = 32

// NonceSize and Overhead describe the ciphertext layout
// nonce(12) || AES-256-GCM(plaintext) || tag(16).
const (
	NonceSize = 12
	TagSize   = 16
	Overhead  = NonceSize + TagSize
)

// ErrAuth means a ciphertext failed authentication: wrong key, or the bytes
// were changed.
var ErrAuth = errors.New("ciphertext failed authentication")

// Context strings for BLAKE3's key derivation mode. They are part of the
// repository format: changing one makes existing repositories unreadable.
const (
	contextEncrypt = "cairn 2026-11 repository encryption key"
	contextBlobID  = "cairn 2026-11 blob id key"
	contextChunker = "cairn 2026-11 chunker seed"
)

// Keys are the working keys of an opened repository, all derived from its
// master key.
type Keys struct {
	aead    cipher.AEAD
	idKey   [KeySize]byte
	chunker uint64
	hashers sync.Pool // of *blake3.Hasher keyed with idKey; creating one costs ~11 KB
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("crypto: random master key: %w", err)
	}
	return k, nil
}

// Derive computes the working keys from a master key.
func Derive(master []byte) (*Keys, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("crypto: master key has %d bytes, want %d", len(master), KeySize)
	}
	var encKey, seed [KeySize]byte
	k := &Keys{}
	blake3.DeriveKey(contextEncrypt, master, encKey[:])
	blake3.DeriveKey(contextBlobID, master, k.idKey[:])
	blake3.DeriveKey(contextChunker, master, seed[:])
	k.chunker = binary.LittleEndian.Uint64(seed[:8])
	aead, err := newAEAD(encKey[:])
	if err != nil {
		return nil, err
	}
	k.aead = aead
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	return aead, nil
}

// ChunkerSeed is the secret seed of the content-defined chunker, so that
// chunk boundaries do not leak content to someone holding only the store.
func (k *Keys) ChunkerSeed() uint64 { return k.chunker }

// BlobID returns the keyed BLAKE3-256 hash of plaintext.
func (k *Keys) BlobID(plaintext []byte) blob.ID {
	h, ok := k.hashers.Get().(*blake3.Hasher)
	if !ok {
		h, _ = blake3.NewKeyed(k.idKey[:])
	}
	_, _ = h.Write(plaintext)
	var id blob.ID
	h.Sum(id[:0])
	h.Reset()
	k.hashers.Put(h)
	return id
}

// Seal encrypts plaintext, binding ad, and appends
// nonce || ciphertext || tag to dst.
func (k *Keys) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	return seal(k.aead, dst, plaintext, ad)
}

// Open authenticates and decrypts a Seal output, appending the plaintext to dst.
func (k *Keys) Open(dst, sealed, ad []byte) ([]byte, error) {
	return open(k.aead, dst, sealed, ad)
}

func seal(aead cipher.AEAD, dst, plaintext, ad []byte) ([]byte, error) {
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("crypto: nonce: %w", err)
	}
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], plaintext, ad), nil
}

func open(aead cipher.AEAD, dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("crypto: %d bytes is shorter than the %d-byte overhead: %w", len(sealed), Overhead, ErrAuth)
	}
	out, err := aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// SealInPlace encrypts buf[NonceSize:NonceSize+n] in place: it writes a
// fresh nonce into buf[:NonceSize] and the tag after the ciphertext, and
// returns buf[:NonceSize+n+TagSize]. cap(buf) must be at least
// NonceSize+n+TagSize. The result is the same format as Seal's.
func (k *Keys) SealInPlace(buf []byte, n int, ad []byte) ([]byte, error) {
	if cap(buf) < NonceSize+n+TagSize {
		return nil, fmt.Errorf("crypto: buffer of %d bytes too small for %d", cap(buf), n)
	}
	buf = buf[:NonceSize+n]
	if _, err := rand.Read(buf[:NonceSize]); err != nil {
		return nil, fmt.Errorf("crypto: nonce: %w", err)
	}
	pt := buf[NonceSize : NonceSize+n]
	out := k.aead.Seal(pt[:0], buf[:NonceSize], pt, ad)
	return buf[:NonceSize+len(out)], nil
}
