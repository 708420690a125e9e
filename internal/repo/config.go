package repo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
)

// FormatVersion is the repository format this code writes and reads.
const FormatVersion = 1

// ConfigKey is the store key of the repository config.
const ConfigKey = "config"

// Config is the repository's plaintext description, written once by Init.
// It holds nothing secret: a replication job without the passphrase reads it.
type Config struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	PackSize    int       `json:"pack_size"`             // target pack size in bytes
	Compression string    `json:"compression"`           // "zstd-fastest", "zstd-default", "zstd-better", "none"
	ObjectLock  string    `json:"object_lock,omitempty"` // "", "compliance" or "governance" (docs/design/object-lock.md)
	LockMargin  string    `json:"lock_margin,omitempty"` // Go duration added to retention; default 168h
}

// DefaultPackSize is the target size of pack files.
const DefaultPackSize = 16 << 20

func newConfig(now time.Time) (Config, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return Config{}, fmt.Errorf("repo: random id: %w", err)
	}
	return Config{Version: FormatVersion, ID: hex.EncodeToString(id), Created: now.UTC(), PackSize: DefaultPackSize, Compression: "zstd-default"}, nil
}

// maxConfig bounds the config's size: it is a few hundred bytes.
const maxConfig = 64 << 10

// LoadConfig reads the config of the repository in s; it needs no key, and
// so cannot tell whether the config is the one the repository was created
// with: Open can (its key files bind the config's SHA-256).
func LoadConfig(ctx context.Context, s store.Store) (Config, error) {
	c, _, err := readConfig(ctx, s)
	return c, err
}

// readConfig is LoadConfig that also returns the SHA-256 of the config's
// bytes, which key files bind.
func readConfig(ctx context.Context, s store.Store) (Config, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	b, err := readSmall(ctx, s, ConfigKey, maxConfig)
	if errors.Is(err, store.ErrNotFound) {
		return Config{}, sum, fmt.Errorf("%s: %w", s.Location(), ErrNotRepository)
	}
	if err != nil {
		return Config{}, sum, fmt.Errorf("repo: read config: %w", err)
	}
	if len(b) > maxConfig {
		return Config{}, sum, fmt.Errorf("repo: config of more than %d bytes: %w", maxConfig, ErrCorrupt)
	}
	c, err := decodeConfig(b)
	return c, sha256.Sum256(b), err
}

func decodeConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("repo: config: %v: %w", err, ErrCorrupt)
	}
	if c.Version != FormatVersion {
		return Config{}, fmt.Errorf("repo: format version %d, this cairn reads version %d", c.Version, FormatVersion)
	}
	if c.PackSize < 1<<20 || c.PackSize > 1<<30 {
		return Config{}, fmt.Errorf("repo: config pack size %d out of range: %w", c.PackSize, ErrCorrupt)
	}
	return c, nil
}
