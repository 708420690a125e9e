package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

func TestKeysAddRemovePasswd(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	if _, err := Init(ctx, s, nil, Options{}); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("init without passphrase: %v", err)
	}
	r, err := Init(ctx, s, []byte("one"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, s, []byte("again"), Options{}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("second init: %v", err)
	}
	id2, err := r.AddKey(ctx, []byte("two"), "second")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, s, []byte("two"), Options{})
	if err != nil {
		t.Fatalf("open with added key: %v", err)
	}
	if r2.KeyID() != id2 {
		t.Fatal("opened with the wrong key")
	}
	if err := r2.RemoveKey(ctx, id2); !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("removing own key: %v", err)
	}
	if err := r2.RemoveKey(ctx, r.KeyID()); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, s, []byte("one"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("removed key still opens: %v", err)
	}
	if _, err := r2.ChangePassphrase(ctx, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, s, []byte("two"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old passphrase still opens after passwd: %v", err)
	}
	if _, err := Open(ctx, s, []byte("three"), Options{}); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	keys, _ := r2.Keys(ctx)
	if len(keys) != 1 {
		t.Fatalf("%d keys, want 1", len(keys))
	}
}

func TestWrongPassphraseWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	if _, err := Init(ctx, s, []byte("right"), Options{}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		s.List(ctx, "", func(store.Info) error { n++; return nil })
		return n
	}
	before := count()
	if _, err := Open(ctx, s, []byte("wrong"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("err = %v", err)
	}
	if count() != before {
		t.Fatal("a failed open wrote objects")
	}
}

func FuzzDecodeKeyFile(f *testing.F) {
	f.Add([]byte(`{"kdf":{"algorithm":"argon2id","time":3,"memory_kib":65536,"threads":4,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"wrapped":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeKeyFile(b)
		if err != nil {
			return
		}
		if k.KDF.MemoryKiB > crypto.MaxMemoryKiB || k.KDF.Time > crypto.MaxTime || (len(k.Wrapped) != 60 && len(k.Wrapped) != 92) {
			t.Fatalf("accepted a key file with memory %d KiB, wrapped %d bytes", k.KDF.MemoryKiB, len(k.Wrapped))
		}
	})
}
