package chunker

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand"
	"testing"
)

func chunks(t *testing.T, table *Table, data []byte) [][32]byte {
	t.Helper()
	c := New(table, bytes.NewReader(data), nil)
	var out [][32]byte
	total := 0
	for {
		b, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxSize {
			t.Fatalf("chunk of %d bytes exceeds MaxSize", len(b))
		}
		total += len(b)
		out = append(out, sha256.Sum256(b))
	}
	if total != len(data) {
		t.Fatalf("chunks add up to %d bytes, want %d", total, len(data))
	}
	return out
}

func random(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestSmallInputIsOneChunk(t *testing.T) {
	table := NewTable(1)
	for _, n := range []int{0, 1, 4096, MinSize} {
		got := chunks(t, table, random(2, n))
		want := 1
		if n == 0 {
			want = 0
		}
		if len(got) != want {
			t.Errorf("%d bytes: %d chunks, want %d", n, len(got), want)
		}
	}
}

func TestAverageSize(t *testing.T) {
	data := random(3, 96<<20)
	got := chunks(t, NewTable(42), data)
	avg := len(data) / len(got)
	if avg < AvgSize/2 || avg > AvgSize*2 {
		t.Fatalf("average chunk %d bytes over %d chunks, want about %d", avg, len(got), AvgSize)
	}
	t.Logf("%d chunks, average %d KiB", len(got), avg>>10)
}

func TestInsertionShiftsFewChunks(t *testing.T) {
	table := NewTable(7)
	data := random(4, 32<<20)
	edited := append(append(append([]byte{}, data[:10<<20]...), []byte("inserted bytes")...), data[10<<20:]...)
	a, b := chunks(t, table, data), chunks(t, table, edited)
	seen := map[[32]byte]bool{}
	for _, h := range a {
		seen[h] = true
	}
	shared := 0
	for _, h := range b {
		if seen[h] {
			shared++
		}
	}
	if shared < len(a)-3 {
		t.Fatalf("only %d of %d chunks survive an insertion", shared, len(a))
	}
}

func TestSeedChangesBoundaries(t *testing.T) {
	data := random(5, 16<<20)
	a, b := chunks(t, NewTable(1), data), chunks(t, NewTable(2), data)
	if len(a) == len(b) {
		same := true
		for i := range a {
			if a[i] != b[i] {
				same = false
			}
		}
		if same {
			t.Fatal("two seeds cut the same boundaries")
		}
	}
}

// TestGoldenTable pins the gear table derivation (part of the format).
func TestGoldenTable(t *testing.T) {
	tab := NewTable(0)
	if tab[0] != 0xe220a8397b1dcdaf || tab[255] == 0 {
		t.Fatalf("gear table changed: t[0]=%#x", tab[0])
	}
}

func BenchmarkChunker(b *testing.B) {
	data := random(6, 64<<20)
	table := NewTable(9)
	buf := make([]byte, 2*MaxSize)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		c := New(table, bytes.NewReader(data), buf)
		for {
			if _, err := c.Next(); err == io.EOF {
				break
			}
		}
	}
}
