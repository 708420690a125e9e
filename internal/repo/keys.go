package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/store"
)

// KeyFile is one way in: the master key wrapped under a passphrase. Stored
// in plaintext JSON at keys/<sha256 of the file>.
type KeyFile struct {
	Created  time.Time  `json:"created"`
	Host     string     `json:"host,omitempty"`
	Username string     `json:"username,omitempty"`
	Label    string     `json:"label,omitempty"`
	KDF      crypto.KDF `json:"kdf"`
	Wrapped  []byte     `json:"wrapped"` // nonce || AES-256-GCM(master key) || tag
}

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

const keysPrefix = "keys/"

// DecodeKeyFile parses and validates a key file.
func DecodeKeyFile(b []byte) (KeyFile, error) {
	var k KeyFile
	if err := json.Unmarshal(b, &k); err != nil {
		return k, fmt.Errorf("key file: %v: %w", err, ErrCorrupt)
	}
	if err := k.KDF.Validate(); err != nil {
		return k, fmt.Errorf("key file: %v: %w", err, ErrCorrupt)
	}
	if len(k.Wrapped) != crypto.KeySize+crypto.Overhead {
		return k, fmt.Errorf("key file: wrapped key of %d bytes: %w", len(k.Wrapped), ErrCorrupt)
	}
	return k, nil
}

// writeKey wraps master under passphrase and stores a new key file.
func writeKey(ctx context.Context, s store.Store, now time.Time, passphrase, master []byte, label string) (string, error) {
	if len(passphrase) == 0 {
		return "", ErrNoPassword
	}
	kdf, err := crypto.DefaultKDF()
	if err != nil {
		return "", err
	}
	wrapped, err := kdf.Wrap(passphrase, master)
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
	if err := s.Put(ctx, keysPrefix+id, b); err != nil {
		return "", fmt.Errorf("repo: store key: %w", err)
	}
	return id, nil
}

// openMaster tries every key file with passphrase and returns the master key
// and the ID of the key that opened it.
func openMaster(ctx context.Context, s store.Store, passphrase []byte) ([]byte, string, error) {
	if len(passphrase) == 0 {
		return nil, "", ErrNoPassword
	}
	var ids []string
	err := s.List(ctx, keysPrefix, func(fi store.Info) error {
		ids = append(ids, strings.TrimPrefix(fi.Key, keysPrefix))
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("repo: list keys: %w", err)
	}
	if len(ids) == 0 {
		return nil, "", fmt.Errorf("repo: %s has no key files: %w", s.Location(), ErrCorrupt)
	}
	sort.Strings(ids)
	var firstErr error
	for _, id := range ids {
		b, err := store.ReadAll(ctx, s, keysPrefix+id)
		if err != nil {
			return nil, "", fmt.Errorf("repo: read key %s: %w", id, err)
		}
		k, err := DecodeKeyFile(b)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("key %s: %w", id[:8], err)
			}
			continue
		}
		master, err := k.KDF.Unwrap(passphrase, k.Wrapped)
		if errors.Is(err, crypto.ErrAuth) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("repo: key %s: %w", id[:8], err)
		}
		return master, id, nil
	}
	return nil, "", ErrWrongPassword
}

// AddKey adds a passphrase that opens the repository and returns the new key's ID.
func (r *Repository) AddKey(ctx context.Context, passphrase []byte, label string) (string, error) {
	return writeKey(ctx, r.store, r.now(), passphrase, r.master, label)
}

// Keys lists the repository's key files.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.store.List(ctx, keysPrefix, func(fi store.Info) error {
		id := strings.TrimPrefix(fi.Key, keysPrefix)
		b, err := store.ReadAll(ctx, r.store, fi.Key)
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
	if err := r.store.Delete(ctx, keysPrefix+id); err != nil {
		return fmt.Errorf("repo: remove key %s: %w", id[:8], err)
	}
	return nil
}

// ChangePassphrase replaces the key that opened the repository with one for
// a new passphrase: the new key file is written first, then the old one is
// removed. No data is rewritten.
func (r *Repository) ChangePassphrase(ctx context.Context, passphrase []byte) (string, error) {
	old, err := store.ReadAll(ctx, r.store, keysPrefix+r.keyID)
	if err != nil {
		return "", fmt.Errorf("repo: read current key: %w", err)
	}
	k, err := DecodeKeyFile(old)
	if err != nil {
		return "", err
	}
	id, err := writeKey(ctx, r.store, r.now(), passphrase, r.master, k.Label)
	if err != nil {
		return "", err
	}
	if err := r.store.Delete(ctx, keysPrefix+r.keyID); err != nil {
		return id, fmt.Errorf("repo: new key %s written, old key %s not removed: %w", id[:8], r.keyID[:8], err)
	}
	r.keyID = id
	return id, nil
}

// KeyID is the ID of the key that opened the repository.
func (r *Repository) KeyID() string { return r.keyID }
