package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// lockable is a store with object lock enabled (retention is not enforced).
type lockable struct{ *mem.Mem }

func (lockable) ObjectLockEnabled(context.Context) (bool, error)               { return true, nil }
func (lockable) Retention(context.Context, string) (time.Time, error)          { return time.Time{}, nil }
func (lockable) SetRetention(context.Context, string, time.Time, string) error { return nil }

// replaceConfig swaps the config for edit's result, as someone with write
// access to the bucket could (a versioned bucket takes a new version).
func replaceConfig(t *testing.T, s store.Store, edit func(map[string]any)) {
	t.Helper()
	ctx := context.Background()
	b, err := store.ReadAll(ctx, s, ConfigKey)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	nb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ConfigKey); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, ConfigKey, nb); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedConfigRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"pack size edited", func(m map[string]any) { m["pack_size"] = 8 << 20 }},
		{"object lock dropped", func(m map[string]any) { delete(m, "object_lock"); delete(m, "lock_margin") }},
		{"compression edited", func(m map[string]any) { m["compression"] = "none" }},
		{"same content, other bytes", func(map[string]any) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := lockable{mem.New()}
			r, err := Init(ctx, s, []byte("pw"), Options{ObjectLock: store.RetentionCompliance})
			if err != nil {
				t.Fatal(err)
			}
			if r.Config().ObjectLock != store.RetentionCompliance {
				t.Fatal("object lock not recorded")
			}
			var ring Keyring
			if _, err := ring.Open(ctx, s, []byte("pw"), Options{}); err != nil {
				t.Fatal(err)
			}
			replaceConfig(t, s, tt.edit)
			if _, err := LoadConfig(ctx, s); err != nil {
				t.Fatalf("LoadConfig (no passphrase, as replication reads it) = %v", err)
			}
			_, err = Open(ctx, s, []byte("pw"), Options{})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "config does not match") || !strings.Contains(err.Error(), "tampered with or replaced") {
				t.Fatalf("Open with a replaced config = %v, want ErrCorrupt saying it was tampered with or replaced", err)
			}
			if _, err := ring.Open(ctx, s, []byte("pw"), Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Keyring.Open (cached key) with a replaced config = %v, want ErrCorrupt", err)
			}
			var fresh Keyring
			if _, err := fresh.Open(ctx, s, []byte("pw"), Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Keyring.Open with a replaced config = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestKeysCarryTheBinding: added and changed keys bind the config as well.
func TestKeysCarryTheBinding(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := Init(ctx, s, []byte("one"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddKey(ctx, []byte("two"), ""); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, s, []byte("two"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.ChangePassphrase(ctx, []byte("three")); err != nil {
		t.Fatal(err)
	}
	replaceConfig(t, s, func(m map[string]any) { m["pack_size"] = 4 << 20 })
	for _, pass := range []string{"one", "three"} {
		if _, err := Open(ctx, s, []byte(pass), Options{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with key %q and a replaced config = %v, want ErrCorrupt", pass, err)
		}
	}
}

// TestLegacyRepositoryGetsBinding: the golden repository (format 1, key
// files from before the binding) opens as before, and a key added to it
// binds its config.
func TestLegacyRepositoryGetsBinding(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../restorer/testdata/golden-v1")); err != nil {
		t.Fatal(err)
	}
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("golden-fixture")
	r, err := Open(ctx, s, pass, Options{})
	if err != nil {
		t.Fatalf("golden-v1 does not open: %v", err)
	}
	if b, _ := readSmall(ctx, s, KindKey.Key(r.KeyID()), maxKeyFile); mustDecode(t, b).Binds() {
		t.Fatal("the golden key file binds the config: it was regenerated")
	}
	added, err := r.AddKey(ctx, []byte("new"), "bound")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := readSmall(ctx, s, KindKey.Key(added), maxKeyFile); !mustDecode(t, b).Binds() {
		t.Fatal("a key added to a legacy repository does not bind the config")
	}
	if _, err := Open(ctx, s, []byte("new"), Options{}); err != nil {
		t.Fatalf("open with the added key: %v", err)
	}
	replaceConfig(t, s, func(m map[string]any) { m["pack_size"] = 8 << 20 })
	if _, err := Open(ctx, s, []byte("new"), Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the added key opens a replaced config: %v", err)
	}
	// The legacy key binds nothing (docs/design/repository-format.md §3).
	if _, err := Open(ctx, s, pass, Options{}); err != nil {
		t.Fatalf("the legacy key: %v", err)
	}
}

func mustDecode(t *testing.T, b []byte) KeyFile {
	t.Helper()
	k, err := DecodeKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// putKeyFile stores b as a key file, named as key files are.
func putKeyFile(t *testing.T, s store.Store, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	id := hex.EncodeToString(sum[:])
	if err := s.Put(context.Background(), KindKey.Key(id), b); err != nil {
		t.Fatal(err)
	}
	return id
}

// onlyKey makes the key file b the repository's only one.
func onlyKey(t *testing.T, s store.Store, b []byte) string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	s.List(ctx, KindKey.Prefix(), func(fi store.Info) error { keys = append(keys, fi.Key); return nil })
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	return putKeyFile(t, s, b)
}

func hugeKDFKeyFile(t *testing.T) []byte {
	t.Helper()
	kdf, _ := crypto.DefaultKDF()
	kdf.MemoryKiB = 4 << 20 // 4 GiB
	b, err := json.Marshal(KeyFile{KDF: kdf, Wrapped: make([]byte, boundKeySize+crypto.Overhead)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorruptKeyReported: a corrupt key file is named as corrupt, and is
// not passed off as a wrong passphrase.
func TestCorruptKeyReported(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, s store.Store) string // returns the corrupt key's ID
		want  string
	}{
		{"the only key is not JSON", func(t *testing.T, s store.Store) string {
			return onlyKey(t, s, []byte("{not json"))
		}, "the repository has no other key"},
		{"the only key asks for 4 GiB", func(t *testing.T, s store.Store) string {
			return onlyKey(t, s, hugeKDFKeyFile(t))
		}, "memory 4194304 KiB out of range"},
		{"the only key is truncated", func(t *testing.T, s store.Store) string {
			b, _ := store.ReadAll(context.Background(), s, KindKey.Key(firstKey(t, s)))
			return onlyKey(t, s, b[:len(b)/2])
		}, "the repository has no other key"},
		{"another key exists", func(t *testing.T, s store.Store) string {
			return putKeyFile(t, s, hugeKDFKeyFile(t))
		}, "no other key matches the passphrase"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := mem.New()
			if _, err := Init(ctx, s, []byte("pw"), Options{}); err != nil {
				t.Fatal(err)
			}
			bad := tt.setup(t, s)
			var before, after runtimeMem
			before.read()
			start := time.Now()
			_, err := Open(ctx, s, []byte("other"), Options{})
			took := time.Since(start)
			after.read()
			if errors.Is(err, ErrWrongPassword) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt, not ErrWrongPassword", err)
			}
			for _, want := range []string{"key " + bad[:8] + " is corrupt", tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open = %v, want it to say %q", err, want)
				}
			}
			if strings.Contains(tt.name, "4 GiB") {
				if grew := after.total - before.total; grew > 256<<20 || took > 5*time.Second {
					t.Errorf("refusing the key file allocated %d MiB and took %v", grew>>20, took)
				}
			}
		})
	}
	// A corrupt key beside the one that opens is no obstacle.
	ctx := context.Background()
	s := mem.New()
	if _, err := Init(ctx, s, []byte("pw"), Options{}); err != nil {
		t.Fatal(err)
	}
	putKeyFile(t, s, []byte("garbage"))
	if _, err := Open(ctx, s, []byte("pw"), Options{}); err != nil {
		t.Fatalf("Open beside a corrupt key = %v", err)
	}
}

func firstKey(t *testing.T, s store.Store) string {
	t.Helper()
	var id string
	s.List(context.Background(), KindKey.Prefix(), func(fi store.Info) error { id = strings.TrimPrefix(fi.Key, KindKey.Prefix()); return nil })
	return id
}

// TestDecodeKeyFileBounds: parameters beyond the documented bounds are
// refused by the decoder, before any key derivation.
func TestDecodeKeyFileBounds(t *testing.T) {
	if _, err := DecodeKeyFile(hugeKDFKeyFile(t)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("DecodeKeyFile(4 GiB) = %v", err)
	}
	if _, err := DecodeKeyFile(bytes.Repeat([]byte(" "), maxKeyFile+1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeKeyFile(huge file) = %v", err)
	}
}

// runtimeMem is the bytes allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
