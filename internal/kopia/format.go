package kopia

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/crypto/scrypt"
)

// Names of the repository's own blobs.
const (
	formatBlobID  = "kopia.repository"
	blobCfgBlobID = "kopia.blobcfg"
)

// formatBlob is kopia.repository.
type formatBlob struct {
	Tool            string `json:"tool"`
	BuildVersion    string `json:"buildVersion"`
	UniqueID        []byte `json:"uniqueID"`
	KeyAlgo         string `json:"keyAlgo"`
	Encryption      string `json:"encryption"`
	EncryptedFormat []byte `json:"encryptedBlockFormat"`
}

// config is the decrypted repository configuration ({"format": …}).
type config struct {
	Format struct {
		Hash         string      `json:"hash"`
		Encryption   string      `json:"encryption"`
		ECC          string      `json:"ecc"`
		Secret       []byte      `json:"secret"`
		MasterKey    []byte      `json:"masterKey"`
		Version      json.Number `json:"version"`
		IndexVersion int         `json:"indexVersion"`
		Splitter     string      `json:"splitter"`
		// Features kopia requires of a reader.
		RequiredFeatures []struct {
			Feature string `json:"feature"`
		} `json:"requiredFeatures"`
	} `json:"format"`
}

// Format describes the repository, for reports.
type Format struct {
	Version      int    // 1, 2 or 3
	Hash         string // e.g. BLAKE2B-256-128
	Encryption   string // e.g. AES256-GCM-HMAC-SHA256
	Splitter     string // e.g. DYNAMIC-4M-BUZHASH
	KeyAlgorithm string // password-based key derivation, e.g. scrypt-65536-8-1
	BuildVersion string // of the kopia that created it
}

// deriveKey derives the 32-byte format key from the password.
func deriveKey(password []byte, salt []byte, algo string) ([]byte, error) {
	if len(salt) < 16 {
		return nil, fmt.Errorf("kopia.repository: uniqueID of %d bytes, want at least 16: %w", len(salt), ErrCorrupt)
	}
	switch algo {
	case "scrypt-65536-8-1":
		return scrypt.Key(password, salt, 65536, 8, 1, 32)
	case "pbkdf2-sha256-600000":
		return pbkdf2.Key(sha256.New, string(password), salt, 600000, 32)
	}
	return nil, fmt.Errorf("key derivation %q (this reader knows scrypt-65536-8-1 and pbkdf2-sha256-600000): %w", algo, ErrUnsupported)
}

// openFormatAEAD decrypts a blob sealed with the format key (the
// configuration, kopia.blobcfg): AES-256-GCM, nonce first, key and
// associated data HKDF-SHA256'd from the format key with the uniqueID as
// salt.
func openFormatAEAD(formatKey, uniqueID, sealed []byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, formatKey, uniqueID, "AES", 32)
	if err != nil {
		return nil, err
	}
	ad, err := hkdf.Key(sha256.New, formatKey, uniqueID, "CHECKSUM", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, fmt.Errorf("%d bytes: too short: %w", len(sealed), ErrCorrupt)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], ad)
	if err != nil {
		return nil, ErrWrongPassword
	}
	return plain, nil
}

// parseFormat reads kopia.repository and decrypts the configuration with
// password.
func parseFormat(raw, password []byte) (*formatBlob, *config, error) {
	var fb formatBlob
	if err := json.Unmarshal(raw, &fb); err != nil {
		return nil, nil, fmt.Errorf("%s: %v: %w", formatBlobID, err, ErrNotKopia)
	}
	if len(fb.UniqueID) == 0 || len(fb.EncryptedFormat) == 0 {
		return nil, nil, fmt.Errorf("%s: no uniqueID or encryptedBlockFormat: %w", formatBlobID, ErrNotKopia)
	}
	if fb.Encryption != "AES256_GCM" {
		return nil, nil, fmt.Errorf("%s: format encryption %q (this reader knows AES256_GCM): %w", formatBlobID, fb.Encryption, ErrUnsupported)
	}
	key, err := deriveKey(password, fb.UniqueID, fb.KeyAlgo)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", formatBlobID, err)
	}
	plain, err := openFormatAEAD(key, fb.UniqueID, fb.EncryptedFormat)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the repository configuration does not open: %w", formatBlobID, err)
	}
	var cfg config
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: configuration: %v: %w", formatBlobID, err, ErrCorrupt)
	}
	f := &cfg.Format
	if v, _ := strconv.Atoi(f.Version.String()); v < 1 || v > 3 {
		return nil, nil, fmt.Errorf("%s: format version %q (this reader knows 1, 2 and 3): %w", formatBlobID, f.Version, ErrUnsupported)
	}
	if f.ECC != "" && f.ECC != "none" {
		return nil, nil, fmt.Errorf("%s: error correction %q: %w", formatBlobID, f.ECC, ErrUnsupported)
	}
	for _, rf := range f.RequiredFeatures {
		return nil, nil, fmt.Errorf("%s: required feature %q: %w", formatBlobID, rf.Feature, ErrUnsupported)
	}
	if len(f.MasterKey) == 0 {
		return nil, nil, fmt.Errorf("%s: no master key: %w", formatBlobID, ErrUnsupported)
	}
	return &fb, &cfg, nil
}
