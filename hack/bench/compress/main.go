// Command compress measures, on the chunks of a directory tree, what each
// zstd level the repository can use costs in CPU and gains in size, grouped
// by how well the fastest level compressed the chunk. It is the measurement
// behind the per-blob level choice in internal/repo (docs/benchmarks.md):
//
//	go run ./hack/bench/compress DIR...
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/internal/repo/chunker"
)

type bucket struct {
	n                 int
	raw, fast, def    int64
	better            int64
	tFast, tDef, tBet time.Duration
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compress DIR...")
		os.Exit(2)
	}
	opts := []zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true),
		zstd.WithWindowSize(chunker.MaxSize), zstd.WithLowerEncoderMem(true)}
	enc := func(l zstd.EncoderLevel) *zstd.Encoder {
		e, err := zstd.NewWriter(nil, append(opts, zstd.WithEncoderLevel(l))...)
		if err != nil {
			panic(err)
		}
		return e
	}
	fast, def, better := enc(zstd.SpeedFastest), enc(zstd.SpeedDefault), enc(zstd.SpeedBetterCompression)
	table := chunker.NewTable(1)
	c := chunker.New(table, nil, nil)
	// Buckets by the fastest level's size as a fraction of the chunk: [0,10%), [10,20%), ….
	var b [11]bucket
	var dst []byte
	for _, root := range os.Args[1:] {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			c.Reset(f)
			for {
				chunk, err := c.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil
				}
				t0 := time.Now()
				dst = fast.EncodeAll(chunk, dst[:0])
				t1 := time.Now()
				nf := len(dst)
				dst = def.EncodeAll(chunk, dst[:0])
				t2 := time.Now()
				nd := len(dst)
				dst = better.EncodeAll(chunk, dst[:0])
				t3 := time.Now()
				i := nf * 10 / len(chunk)
				if i > 10 {
					i = 10
				}
				k := &b[i]
				k.n++
				k.raw += int64(len(chunk))
				k.fast += int64(min(nf, len(chunk)))
				k.def += int64(min(nd, len(chunk)))
				k.better += int64(min(len(dst), len(chunk)))
				k.tFast += t1.Sub(t0)
				k.tDef += t2.Sub(t1)
				k.tBet += t3.Sub(t2)
			}
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	fmt.Println("| fastest ratio | chunks | raw MB | fastest MB | default MB | better MB | default saves (% of raw) | better saves | fastest ms | default ms | better ms |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var t bucket
	for i, k := range b {
		if k.n == 0 {
			continue
		}
		row(fmt.Sprintf("%d–%d %%", i*10, i*10+10), k)
		t.n += k.n
		t.raw += k.raw
		t.fast += k.fast
		t.def += k.def
		t.better += k.better
		t.tFast += k.tFast
		t.tDef += k.tDef
		t.tBet += k.tBet
	}
	row("all", t)
}

func row(name string, k bucket) {
	mb := func(v int64) float64 { return float64(v) / 1e6 }
	fmt.Printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %d | %d | %d |\n", name, k.n, mb(k.raw), mb(k.fast), mb(k.def), mb(k.better),
		100*float64(k.fast-k.def)/float64(k.raw), 100*float64(k.fast-k.better)/float64(k.raw),
		k.tFast.Milliseconds(), k.tDef.Milliseconds(), k.tBet.Milliseconds())
}
