package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	master, _ := NewMasterKey()
	k, err := Derive(master)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("attack at dawn")
	sealed, err := k.Seal(nil, msg, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(msg)+Overhead {
		t.Fatalf("sealed length %d", len(sealed))
	}
	got, err := k.Open(nil, sealed, []byte("ad"))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := k.Open(nil, sealed, []byte("other ad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong associated data accepted: %v", err)
	}
	sealed[NonceSize] ^= 1
	if _, err := k.Open(nil, sealed, []byte("ad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("flipped bit accepted: %v", err)
	}
	// In-place sealing gives the same format.
	buf := make([]byte, NonceSize+len(msg), NonceSize+len(msg)+TagSize)
	copy(buf[NonceSize:], msg)
	inPlace, err := k.SealInPlace(buf, len(msg), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(nil, inPlace, []byte("ad")); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open in-place sealed: %q %v", got, err)
	}
}

func TestBlobIDIsKeyed(t *testing.T) {
	m1, _ := NewMasterKey()
	m2, _ := NewMasterKey()
	k1, _ := Derive(m1)
	k2, _ := Derive(m2)
	if k1.BlobID([]byte("x")) == k2.BlobID([]byte("x")) {
		t.Fatal("blob IDs do not depend on the key")
	}
	a, b := k1.BlobID([]byte("x")), k1.BlobID([]byte("x"))
	if a != b {
		t.Fatal("blob IDs are not deterministic")
	}
}

// TestGoldenDerivation pins key derivation (part of the format): a fixed
// master key must always give the same blob ID.
func TestGoldenDerivation(t *testing.T) {
	k, err := Derive(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	got := k.BlobID([]byte("cairn")).String()
	const want = "c370e3269cb015688d21ac7700f8c53a802c1424d45e317a7f1d193582cbe4fa"
	if got != want {
		t.Fatalf("blob ID derivation changed: %s", got)
	}
}

func TestKDFWrap(t *testing.T) {
	p, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	master, _ := NewMasterKey()
	w, err := p.Wrap([]byte("pass"), master)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Unwrap([]byte("pass"), w)
	if err != nil || !bytes.Equal(got, master) {
		t.Fatal("unwrap failed")
	}
	if _, err := p.Unwrap([]byte("wrong"), w); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestKDFBounds(t *testing.T) {
	ok, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("default parameters refused: %v", err)
	}
	for _, tt := range []struct {
		name string
		edit func(*KDF)
		bad  bool
	}{
		{"memory 1 GiB", func(p *KDF) { p.MemoryKiB = 1 << 20 }, false},
		{"memory 1 GiB + 1 KiB", func(p *KDF) { p.MemoryKiB = 1<<20 + 1 }, true},
		{"memory 4 GiB", func(p *KDF) { p.MemoryKiB = 4 << 20 }, true},
		{"memory 4 MiB", func(p *KDF) { p.MemoryKiB = 4 << 10 }, true},
		{"time 16", func(p *KDF) { p.Time = 16 }, false},
		{"time 17", func(p *KDF) { p.Time = 17 }, true},
		{"time 0", func(p *KDF) { p.Time = 0 }, true},
		{"threads 64", func(p *KDF) { p.Threads = 64 }, false},
		{"threads 65", func(p *KDF) { p.Threads = 65 }, true},
		{"threads 0", func(p *KDF) { p.Threads = 0 }, true},
		{"salt 15 bytes", func(p *KDF) { p.Salt = make([]byte, 15) }, true},
		{"salt 65 bytes", func(p *KDF) { p.Salt = make([]byte, 65) }, true},
		{"algorithm", func(p *KDF) { p.Algorithm = "scrypt" }, true},
	} {
		p := ok
		tt.edit(&p)
		if err := p.Validate(); (err != nil) != tt.bad {
			t.Errorf("%s: Validate = %v, want refused %v", tt.name, err, tt.bad)
		}
		if !tt.bad {
			continue
		}
		// Unwrap refuses what Validate refuses, before deriving anything.
		if _, err := p.Unwrap([]byte("pw"), make([]byte, 60)); err == nil || errors.Is(err, ErrAuth) {
			t.Errorf("%s: Unwrap = %v, want the parameters refused", tt.name, err)
		}
	}
}

// BenchmarkDefaultKDF is the cost of opening a key with the default
// parameters (hack/bench/run.sh uses it in the unchanged-backup bound).
func BenchmarkDefaultKDF(b *testing.B) {
	p, err := DefaultKDF()
	if err != nil {
		b.Fatal(err)
	}
	wrapped, err := p.Wrap([]byte("passphrase"), make([]byte, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Unwrap([]byte("passphrase"), wrapped); err != nil {
			b.Fatal(err)
		}
	}
}
