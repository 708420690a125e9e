package mkdata

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Files makes n small files in dir (missing or empty), for benchmarks of
// many files: bigDir of them (at most n) in one directory, spool/, the
// rest over a fan-out like a home or a source tree's, 16 top folders of
// 16 folders of leaf folders, each leaf holding 1 to 200 files (about
// 100). The files (by count): 70 % text of 100 B to 2 KiB, 20 % text of
// 2 to 8 KiB, 8 % incompressible bytes of 1 to 16 KiB, 2 % copies of
// earlier files (duplicates); about 2.4 KiB each on average. The same
// arguments always give the same names and bytes.
func Files(dir string, n, bigDir int, seed uint64) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("mkdata: %s exists and is not empty", dir)
	}
	r := newRNG(seed, 0x66696c6573)
	bigDir = max(0, min(bigDir, n))
	var recent [][]byte // what duplicates copy: the last text files made
	write := func(path string, i int) error {
		var b []byte
		switch k := r.intn(100); {
		case k < 70:
			b = r.text(r.between(100, 2<<10))
		case k < 90:
			b = r.text(r.between(2<<10, 8<<10))
		case k < 98:
			b = make([]byte, r.between(1<<10, 16<<10))
			r.fill(b)
		case len(recent) > 0:
			b = recent[r.intn(len(recent))]
		default:
			b = r.text(100)
		}
		if len(recent) < 64 {
			recent = append(recent, b)
		} else if i%97 == 0 {
			recent[r.intn(len(recent))] = b
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("mkdata: %w", err)
		}
		return nil
	}
	if bigDir > 0 {
		spool := filepath.Join(dir, "spool")
		if err := os.MkdirAll(spool, 0o755); err != nil {
			return fmt.Errorf("mkdata: %w", err)
		}
		for i := range bigDir {
			if err := write(filepath.Join(spool, fmt.Sprintf("msg-%07d.eml", i)), i); err != nil {
				return err
			}
		}
	}
	for i, leaf := bigDir, 0; i < n; leaf++ {
		d := filepath.Join(dir, fmt.Sprintf("d%x", leaf%16), fmt.Sprintf("d%x", leaf/16%16), "leaf"+strconv.Itoa(leaf))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("mkdata: %w", err)
		}
		for k := r.between(1, 200); k > 0 && i < n; k-- {
			if err := write(filepath.Join(d, fmt.Sprintf("f%05d.txt", i)), i); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// segment is the unit the content of BigFile is chosen in.
const segment = 4 * mib

// BigFile writes one file of sizeMiB MiB at path (which must not exist),
// for benchmarks of a single large file: segments of 4 MiB, each, by
// chance, incompressible bytes (40 %), database-like 8 KiB pages (30 %),
// log text (20 %) or zeros (10 %, written, not holes). Nothing repeats
// but the zeros, so it deduplicates only there; it compresses to a bit
// more than half. The same arguments always give the same bytes.
func BigFile(path string, sizeMiB int, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("mkdata: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("mkdata: %w", err)
	}
	r := newRNG(seed, 0x626967)
	w := bufio.NewWriterSize(f, mib)
	buf := make([]byte, segment)
	var page [pageSize]byte
	for left := int64(sizeMiB) * mib; left > 0; left -= int64(len(buf)) {
		buf = buf[:min(left, segment)]
		switch k := r.intn(10); {
		case k < 4:
			r.fill(buf)
		case k < 7:
			for off := 0; off < len(buf); off += pageSize {
				copy(buf[off:], r.page(&page))
			}
		case k < 9:
			copy(buf, r.text(len(buf)))
		default:
			clear(buf)
		}
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("mkdata: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("mkdata: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mkdata: %w", err)
	}
	return nil
}
