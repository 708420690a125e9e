package repo

import (
	"context"
	"crypto/rand"
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

// LoadConfig reads the config of the repository in s; it needs no key.
func LoadConfig(ctx context.Context, s store.Store) (Config, error) {
	b, err := store.ReadAll(ctx, s, ConfigKey)
	if errors.Is(err, store.ErrNotFound) {
		return Config{}, fmt.Errorf("%s: %w", s.Location(), ErrNotRepository)
	}
	if err != nil {
		return Config{}, fmt.Errorf("repo: read config: %w", err)
	}
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
