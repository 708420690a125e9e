package repo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store/mem"
)

func TestKeyringSkipsKDFAndHonoursKeyRemoval(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := Init(ctx, s, []byte("one"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	twoID, err := r.AddKey(ctx, []byte("two"), "")
	if err != nil {
		t.Fatal(err)
	}
	var k Keyring
	start := time.Now()
	if _, err := k.Open(ctx, s, []byte("two"), Options{}); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	r2, err := k.Open(ctx, s, []byte("two"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	again := time.Since(start)
	if r2.KeyID() != twoID {
		t.Fatalf("opened with key %s, want %s", r2.KeyID(), twoID)
	}
	t.Logf("first open %v, cached %v", first, again)
	if again > first/2 {
		t.Errorf("cached open took %v, first %v: the key derivation was not skipped", again, first)
	}
	if _, err := k.Open(ctx, s, []byte("wrong"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong passphrase through the keyring: %v", err)
	}
	// Removing the key file revokes "two" for the keyring as well.
	if err := r.RemoveKey(ctx, twoID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, s, []byte("two"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("a removed key still opens through the keyring: %v", err)
	}
}
