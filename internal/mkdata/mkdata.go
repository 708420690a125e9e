// Package mkdata makes a deterministic directory that looks like a
// persistent volume, for tests and benchmarks, and changes it as a "next
// day" would. The same arguments always give the same names, bytes, modes,
// link targets and extended attributes (not the same times).
//
// The mix (by share of the size asked for): database-like files of 8 KiB
// pages, partly compressible (40 %); append-only logs, very compressible
// text (20 %); incompressible blobs (20 %); many small source-like files
// (15 %); exact duplicates of logs and small files in another folder (5 %).
// Then the edge cases, under edge/: an empty file (mode 0600), empty
// folders, a name with spaces and non-ASCII characters, a symlink and a
// dangling one, a hard link, a 256 MiB sparse file, extended attributes
// (text and binary values, on files and a folder) and a tree 40 folders
// deep.
//
// Extended attributes are set where the file system takes user.*
// attributes and skipped where it answers ENOTSUP (tmpfs before Linux 6.6).
//
// For benchmarks at scale, Files makes many small files (a fan-out of
// folders and one folder of very many entries) and BigFile one large file
// of mixed content.
//
// It is a package of the test side: nothing in a product binary imports it.
package mkdata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	mib      = 1 << 20
	pageSize = 8192
)

// words are the vocabulary of the text.
var words = strings.Fields("error warn info debug request response user order payment id status ok failed retry " +
	"timeout connection pool query select insert update delete from where join index table " +
	"node pod namespace volume backup restore cluster service deployment replica lease")

// rng is the one source of every choice: PCG, a specified algorithm, and
// helpers of its own on top, so the bytes do not depend on how a Go
// release implements math/rand's conveniences.
type rng struct{ p *rand.PCG }

func newRNG(seed, stream uint64) *rng { return &rng{rand.NewPCG(seed, stream)} }

func (r *rng) u64() uint64 { return r.p.Uint64() }

// intn returns a number in [0, n).
func (r *rng) intn(n int) int { return int(r.u64() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// fill fills b with random bytes.
func (r *rng) fill(b []byte) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.u64())
	}
	if i < len(b) {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.u64())
		copy(b[i:], w[:])
	}
}

// text returns n bytes of log lines.
func (r *rng) text(n int) []byte {
	out := make([]byte, 0, n+256)
	for len(out) < n {
		out = fmt.Appendf(out, "2026-11-%02dT%02d:%02d:%02d.%03dZ", r.between(1, 28), r.between(0, 23),
			r.between(0, 59), r.between(0, 59), r.between(0, 999))
		for k := r.between(6, 18); k > 0; k-- {
			out = append(out, ' ')
			out = append(out, words[r.intn(len(words))]...)
		}
		out = append(out, " n="...)
		out = strconv.AppendInt(out, int64(r.between(0, 1e6)), 10)
		out = append(out, '\n')
	}
	return out[:n]
}

// page returns an 8 KiB database page: a random header, records of a
// repeated shape, a run of random bytes, zeros.
func (r *rng) page(b *[pageSize]byte) []byte {
	out := b[:0]
	var hdr [64]byte
	r.fill(hdr[:])
	out = append(out, hdr[:]...)
	for range 80 {
		out = fmt.Appendf(out, "row:%08d|%s|", r.between(0, 1e8), words[r.intn(len(words))])
	}
	n := len(out)
	out = out[:n+2048]
	r.fill(out[n:])
	full := b[:]
	clear(full[len(out):])
	return full
}

// Generate makes the dataset of about sizeMiB MiB in dir, which must be
// missing or empty.
func Generate(dir string, sizeMiB int, seed uint64) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("mkdata: %s exists and is not empty", dir)
	}
	g := &gen{root: dir, r: newRNG(seed, 0x6d6b64617461)}
	total := sizeMiB * mib
	steps := []struct {
		share float64
		make  func(left int) (int, error)
	}{
		{0.40, g.db}, {0.20, g.log}, {0.20, g.blob}, {0.15, g.src}, {0.05, g.dup},
	}
	for _, s := range steps {
		left := int(float64(total) * s.share)
		for left > 0 {
			n, err := s.make(left)
			if err != nil {
				return fmt.Errorf("mkdata: %w", err)
			}
			if n == 0 {
				break
			}
			left -= n
		}
	}
	if err := g.edge(); err != nil {
		return fmt.Errorf("mkdata: %w", err)
	}
	return nil
}

// gen is one Generate's state.
type gen struct {
	root                         string
	r                            *rng
	nDB, nLog, nBlob, nSrc, nDup int
	small                        []string // the small files, in the order made
	pool                         []string // what dup copies: the logs, then the first small files
}

func (g *gen) path(parts ...string) string {
	return filepath.Join(append([]string{g.root}, parts...)...)
}

// db writes one database-like file of up to left bytes.
func (g *gen) db(left int) (int, error) {
	n := min(left, []int{16, 32, 64, 128}[g.r.intn(4)]*mib)
	path := g.path("db", "base", strconv.Itoa(16384+g.nDB))
	g.nDB++
	var b [pageSize]byte
	return n, writeStream(path, func(w io.Writer) error {
		for range n / pageSize {
			if _, err := w.Write(g.r.page(&b)); err != nil {
				return err
			}
		}
		return nil
	})
}

// log writes one log of up to left bytes.
func (g *gen) log(left int) (int, error) {
	n := min(left, []int{1, 4, 16, 32}[g.r.intn(4)]*mib)
	path := g.path("logs", fmt.Sprintf("app-%03d.log", g.nLog))
	g.nLog++
	return n, writeFile(path, g.r.text(n))
}

// blob writes one incompressible file of up to left bytes.
func (g *gen) blob(left int) (int, error) {
	n := min(left, g.r.between(256<<10, 24*mib))
	path := g.path("uploads", fmt.Sprintf("%02x", g.nBlob%64), fmt.Sprintf("obj-%05d.bin", g.nBlob))
	g.nBlob++
	return n, writeStream(path, func(w io.Writer) error {
		buf := make([]byte, mib)
		for left := n; left > 0; left -= len(buf) {
			buf = buf[:min(left, len(buf))]
			g.r.fill(buf)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// src writes one small text file of up to left bytes.
func (g *gen) src(left int) (int, error) {
	n := min(left, g.r.between(100, 32<<10))
	path := g.path("src", fmt.Sprintf("pkg%03d", g.nSrc%300), fmt.Sprintf("file%05d.txt", g.nSrc))
	g.nSrc++
	g.small = append(g.small, path)
	return n, writeFile(path, g.r.text(n))
}

// dup copies one log or small file into copy/.
func (g *gen) dup(int) (int, error) {
	if g.pool == nil {
		logs, err := filepath.Glob(g.path("logs", "*"))
		if err != nil {
			return 0, err
		}
		slices.Sort(logs)
		g.pool = append(logs, g.small[:min(len(g.small), 2000)]...)
	}
	if len(g.pool) == 0 {
		return 0, nil
	}
	src := g.pool[g.nDup%len(g.pool)]
	b, err := os.ReadFile(src)
	if err != nil {
		return 0, err
	}
	dst := g.path("copy", fmt.Sprintf("%05d-%s", g.nDup, filepath.Base(src)))
	g.nDup++
	if len(b) == 0 {
		b = nil
	}
	return max(len(b), 1), writeFile(dst, b)
}

// edge makes the edge cases.
func (g *gen) edge() error {
	e := func(parts ...string) string { return g.path(append([]string{"edge"}, parts...)...) }
	named := e("naïve name with spaces.txt")
	for _, step := range []func() error{
		func() error { return writeFile(e("empty"), nil) },
		func() error { return os.MkdirAll(e("empty-dir", "nested"), 0o755) },
		func() error { return writeFile(named, []byte("hello\n")) },
		func() error { return os.Symlink("../logs/app-000.log", e("link-to-log")) },
		func() error { return os.Symlink("does-not-exist", e("dangling")) },
		func() error { return os.Link(named, e("hardlink.txt")) },
		func() error { return sparse(e("sparse.img"), 256*mib) },
		func() error { return os.Chmod(e("empty"), 0o600) },
		g.deep,
		g.xattrs,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// deep makes a tree 40 folders deep with a file at the bottom and one on
// the way down.
func (g *gen) deep() error {
	parts := []string{"edge", "deep"}
	for i := range 40 {
		parts = append(parts, fmt.Sprintf("l%02d", i))
		if i == 20 {
			if err := writeFile(g.path(append(parts, "midway.txt")...), g.r.text(300)); err != nil {
				return err
			}
		}
	}
	return writeFile(g.path(append(parts, "leaf.txt")...), g.r.text(1000))
}

// xattrs sets extended attributes on a few small files, the naïve-named
// file and a folder.
func (g *gen) xattrs() error {
	targets := []string{g.path("edge", "naïve name with spaces.txt"), g.path("edge", "empty-dir")}
	for i := 0; i < len(g.small); i += max(1, len(g.small)/16) {
		targets = append(targets, g.small[i])
	}
	for i, p := range targets {
		bin := make([]byte, g.r.between(1, 64))
		g.r.fill(bin)
		attrs := []struct {
			name  string
			value []byte
		}{
			{"user.cairn.owner", fmt.Appendf(nil, "team-%d", i)},
			{"user.cairn.binary", bin},
		}
		for _, a := range attrs {
			err := unix.Lsetxattr(p, a.name, a.value, 0)
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
				return nil // the file system takes no user attributes
			}
			if err != nil {
				return fmt.Errorf("setxattr %s %s: %w", p, a.name, err)
			}
		}
	}
	return nil
}

// Mutate changes about percent % of the dataset in dir as a next day
// would: pages of database files rewritten in place, logs and other files
// appended to, small files replaced by new ones (a new name). The edge
// cases are left alone.
func Mutate(dir string, percent float64, seed uint64) error {
	r := newRNG(seed*7919+1, 0x6d7574617465)
	var files []string
	var total int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && rel == "edge" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, p)
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mkdata: %w", err)
	}
	slices.Sort(files)
	budget := float64(total) * percent / 100
	for changed := 0.0; changed < budget && len(files) > 0; {
		i := r.intn(len(files))
		p := files[i]
		kind := r.float()
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("mkdata: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case strings.HasPrefix(rel, "db"+string(filepath.Separator)) && fi.Size() >= pageSize:
			n, err := rewritePages(p, fi.Size(), r)
			if err != nil {
				return fmt.Errorf("mkdata: %w", err)
			}
			changed += float64(n)
		case strings.HasPrefix(rel, "logs"+string(filepath.Separator)) || kind < 0.5:
			data := r.text(r.between(1<<10, mib))
			if err := appendFile(p, data); err != nil {
				return fmt.Errorf("mkdata: %w", err)
			}
			changed += float64(len(data))
		default:
			data := r.text(r.between(100, 32<<10))
			if err := writeFile(p+".new", data); err != nil {
				return fmt.Errorf("mkdata: %w", err)
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("mkdata: %w", err)
			}
			files = slices.Delete(files, i, i+1)
			changed += float64(len(data))
		}
	}
	return nil
}

// rewritePages rewrites 1 to 64 random pages of a database file in place.
func rewritePages(path string, size int64, r *rng) (int, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	var b [pageSize]byte
	n := 0
	for k := r.between(1, 64); k > 0; k-- {
		off := int64(r.intn(int(size/pageSize))) * pageSize
		if _, err := f.WriteAt(r.page(&b), off); err != nil {
			f.Close()
			return n, err
		}
		n += pageSize
	}
	return n, f.Close()
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func writeStream(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, mib)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sparse writes a file of size bytes that holds only "tail\n" at its end.
func sparse(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte("tail\n"), size-5); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
