package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/store"
)

// KeyFile is one way in: the master key wrapped under a passphrase, with
// the SHA-256 of the repository's config bound to it. Stored in plaintext
// JSON at keys/<sha256 of the file>.
type KeyFile struct {
	Created  time.Time  `json:"created"`
	Host     string     `json:"host,omitempty"`
	Username string     `json:"username,omitempty"`
	Label    string     `json:"label,omitempty"`
	KDF      crypto.KDF `json:"kdf"`
	// Wrapped is nonce || AES-256-GCM(master key || SHA-256(config)) || tag;
	// key files written before the config was bound wrap the master key alone.
	Wrapped []byte `json:"wrapped"`
}

// Binds reports whether the key file binds the config (it is not a legacy
// key file that wraps the master key alone).
func (k KeyFile) Binds() bool { return len(k.Wrapped) == boundKeySize+crypto.Overhead }

// KeyInfo describes a key file for listing.
type KeyInfo struct {
	ID      string    `json:"id"`
	Current bool      `json:"current"`
	Created time.Time `json:"created"`
	Host    string    `json:"host,omitempty"`
	User    string    `json:"username,omitempty"`
	Label   string    `json:"label,omitempty"`
	KDF     string    `json:"kdf"`
}

const (
	// maxKeyFile bounds a key file's size: they are a few hundred bytes.
	maxKeyFile = 64 << 10
	// boundKeySize is the size of what a key file wraps: the master key
	// and the config's SHA-256.
	boundKeySize = crypto.KeySize + sha256.Size
)

// DecodeKeyFile parses and validates a key file; it refuses parameters
// outside the bounds of crypto.KDF.Validate before deriving anything.
func DecodeKeyFile(b []byte) (KeyFile, error) {
	k, err := decodeKeyFile(b)
	if err != nil {
		return k, fmt.Errorf("key file: %v: %w", err, ErrCorrupt)
	}
	return k, nil
}

// decodeKeyFile is DecodeKeyFile without the ErrCorrupt.
func decodeKeyFile(b []byte) (KeyFile, error) {
	var k KeyFile
	if len(b) > maxKeyFile {
		return k, fmt.Errorf("%d bytes, more than a key file's %d", len(b), maxKeyFile)
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, err
	}
	if err := k.KDF.Validate(); err != nil {
		return k, err
	}
	if n := len(k.Wrapped); n != crypto.KeySize+crypto.Overhead && n != boundKeySize+crypto.Overhead {
		return k, fmt.Errorf("wrapped key of %d bytes", n)
	}
	return k, nil
}

// readSmall reads an object that must be at most max bytes, reading no
// more than max+1 of it.
func readSmall(ctx context.Context, s store.Store, key string, max int64) ([]byte, error) {
	rc, err := s.Get(ctx, key, 0, max+1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// writeKey wraps master and the config's SHA-256 under passphrase and
// stores a new key file.
func writeKey(ctx context.Context, s store.Store, now time.Time, passphrase, master []byte, config [sha256.Size]byte, label string) (string, error) {
	if len(passphrase) == 0 {
		return "", ErrNoPassword
	}
	kdf, err := crypto.DefaultKDF()
	if err != nil {
		return "", err
	}
	wrapped, err := kdf.Wrap(passphrase, append(append(make([]byte, 0, boundKeySize), master...), config[:]...))
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	k := KeyFile{Created: now.UTC(), Host: host, Label: label, KDF: kdf, Wrapped: wrapped}
	if u, err := user.Current(); err == nil {
		k.Username = u.Username
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return "", fmt.Errorf("repo: encode key: %w", err)
	}
	sum := sha256.Sum256(b)
	id := hex.EncodeToString(sum[:])
	if err := s.Put(ctx, KindKey.Key(id), b); err != nil {
		return "", fmt.Errorf("repo: store key: %w", err)
	}
	return id, nil
}

// openedKey is what a key file gave: the master key, the key's ID and the
// config digest it binds (nil for a legacy key file).
type openedKey struct {
	master []byte
	id     string
	config []byte
}

// checkConfig refuses a config whose SHA-256 is not the one the key binds.
func (k openedKey) checkConfig(sum [sha256.Size]byte) error {
	if k.config != nil && !bytes.Equal(k.config, sum[:]) {
		return fmt.Errorf("repo: the config does not match the one key %s was made for: it was tampered with or replaced: %w", short(k.id), ErrCorrupt)
	}
	return nil
}

// openMaster tries the key files with passphrase — those that bind the
// config first — and returns what the first that opens holds. When none
// opens and some key files are corrupt, it names them (ErrCorrupt) rather
// than blame the passphrase.
func openMaster(ctx context.Context, s store.Store, passphrase []byte) (openedKey, error) {
	if len(passphrase) == 0 {
		return openedKey{}, ErrNoPassword
	}
	var ids []string
	err := s.List(ctx, KindKey.Prefix(), func(fi store.Info) error {
		ids = append(ids, strings.TrimPrefix(fi.Key, KindKey.Prefix()))
		return nil
	})
	if err != nil {
		return openedKey{}, fmt.Errorf("repo: list keys: %w", err)
	}
	if len(ids) == 0 {
		return openedKey{}, fmt.Errorf("repo: %s has no key files: %w", s.Location(), ErrCorrupt)
	}
	sort.Strings(ids)
	type candidate struct {
		id string
		k  KeyFile
	}
	var keys []candidate
	var corrupt []string
	for _, id := range ids {
		b, err := readSmall(ctx, s, KindKey.Key(id), maxKeyFile)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return openedKey{}, fmt.Errorf("repo: read key %s: %w", short(id), err)
		}
		k, err := decodeKeyFile(b)
		if err != nil {
			corrupt = append(corrupt, fmt.Sprintf("key %s is corrupt: %v", short(id), err))
			continue
		}
		keys = append(keys, candidate{id, k})
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].k.Binds() && !keys[j].k.Binds() })
	for _, c := range keys {
		secret, err := c.k.KDF.Unwrap(passphrase, c.k.Wrapped)
		if errors.Is(err, crypto.ErrAuth) {
			continue
		}
		if err != nil {
			return openedKey{}, fmt.Errorf("repo: key %s: %w", short(c.id), err)
		}
		switch len(secret) {
		case crypto.KeySize:
			return openedKey{master: secret, id: c.id}, nil
		case boundKeySize:
			return openedKey{master: secret[:crypto.KeySize], id: c.id, config: secret[crypto.KeySize:]}, nil
		}
		return openedKey{}, fmt.Errorf("repo: key %s wraps %d bytes: %w", short(c.id), len(secret), ErrCorrupt)
	}
	switch {
	case len(corrupt) > 0 && len(keys) == 0:
		return openedKey{}, fmt.Errorf("repo: %s; the repository has no other key: %w", strings.Join(corrupt, "; "), ErrCorrupt)
	case len(corrupt) > 0:
		return openedKey{}, fmt.Errorf("repo: %s; no other key matches the passphrase: %w", strings.Join(corrupt, "; "), ErrCorrupt)
	}
	return openedKey{}, ErrWrongPassword
}

// AddKey adds a passphrase that opens the repository and returns the new
// key's ID. The new key binds the config as r was opened with it, so a
// repository whose keys predate the binding gets it this way.
func (r *Repository) AddKey(ctx context.Context, passphrase []byte, label string) (string, error) {
	return writeKey(ctx, r.store, r.now(), passphrase, r.master, r.cfgSum, label)
}

// Keys lists the repository's key files.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.store.List(ctx, KindKey.Prefix(), func(fi store.Info) error {
		id := strings.TrimPrefix(fi.Key, KindKey.Prefix())
		b, err := readSmall(ctx, r.store, fi.Key, maxKeyFile)
		if err != nil {
			return err
		}
		k, err := DecodeKeyFile(b)
		if err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		out = append(out, KeyInfo{ID: id, Current: id == r.keyID, Created: k.Created, Host: k.Host, User: k.Username, Label: k.Label,
			KDF: fmt.Sprintf("%s t=%d m=%dMiB p=%d", k.KDF.Algorithm, k.KDF.Time, k.KDF.MemoryKiB>>10, k.KDF.Threads)})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// ResolveKey finds a key by unique ID prefix.
func (r *Repository) ResolveKey(ctx context.Context, prefix string) (string, error) {
	keys, err := r.Keys(ctx)
	if err != nil {
		return "", err
	}
	var match []string
	for _, k := range keys {
		if strings.HasPrefix(k.ID, prefix) {
			match = append(match, k.ID)
		}
	}
	switch {
	case prefix == "" || len(match) == 0:
		return "", fmt.Errorf("no key with ID %q: %w", prefix, store.ErrNotFound)
	case len(match) > 1:
		return "", fmt.Errorf("key ID prefix %q is ambiguous (%d keys)", prefix, len(match))
	}
	return match[0], nil
}

// RemoveKey deletes a key file. The key that opened this repository cannot
// remove itself (use ChangePassphrase), so a repository never loses its last key.
func (r *Repository) RemoveKey(ctx context.Context, id string) error {
	if id == r.keyID {
		return fmt.Errorf("key %s opened this repository; open it with another key to remove this one: %w", id[:8], ErrKeyInUse)
	}
	if err := r.store.Delete(ctx, KindKey.Key(id)); err != nil {
		return fmt.Errorf("repo: remove key %s: %w", id[:8], err)
	}
	return nil
}

// ChangePassphrase replaces the key that opened the repository with one for
// a new passphrase: the new key file is written first, then the old one is
// removed. No data is rewritten. The new key binds the config, as AddKey's.
func (r *Repository) ChangePassphrase(ctx context.Context, passphrase []byte) (string, error) {
	old, err := readSmall(ctx, r.store, KindKey.Key(r.keyID), maxKeyFile)
	if err != nil {
		return "", fmt.Errorf("repo: read current key: %w", err)
	}
	k, err := DecodeKeyFile(old)
	if err != nil {
		return "", err
	}
	id, err := writeKey(ctx, r.store, r.now(), passphrase, r.master, r.cfgSum, k.Label)
	if err != nil {
		return "", err
	}
	if err := r.store.Delete(ctx, KindKey.Key(r.keyID)); err != nil {
		return id, fmt.Errorf("repo: new key %s written, old key %s not removed: %w", id[:8], r.keyID[:8], err)
	}
	r.keyID = id
	return id, nil
}

// KeyID is the ID of the key that opened the repository.
func (r *Repository) KeyID() string { return r.keyID }
