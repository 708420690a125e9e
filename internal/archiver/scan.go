package archiver

import (
	"context"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Totals counts what a scan has found so far; safe to read while the scan
// runs (atomics), so a progress display can show totals as they grow.
type Totals struct {
	Files atomic.Int64 // regular files
	Bytes atomic.Int64 // their sizes
}

// Scan walks paths the way Run does (relative to directory descriptors,
// symlinks not followed, the same exclude semantics, excludes not applied
// to the given paths themselves) and returns how many regular files it
// found and their total size. It reads no file content. Unreadable entries
// are skipped, not errors: Run reports them.
func Scan(ctx context.Context, paths, excludes []string) (files, bytes int64, err error) {
	var t Totals
	err = ScanInto(ctx, paths, excludes, &t)
	return t.Files.Load(), t.Bytes.Load(), err
}

// ScanInto is Scan that adds to t as it goes. It returns ctx's error if ctx
// ends first.
func ScanInto(ctx context.Context, paths, excludes []string, t *Totals) error {
	s := &scanner{ex: &archiver{opts: Options{Excludes: excludes}}, t: t, buf: make([]byte, 32<<10)}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		top, at, st, err := openTop(abs)
		if err != nil {
			continue
		}
		s.held = 1
		cur := top
		err = s.entry(ctx, &cur, abs, at, &st)
		if cur != nil {
			cur.release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type scanner struct {
	ex   *archiver // for its excludes
	t    *Totals
	buf  []byte
	held int
}

func (s *scanner) entry(ctx context.Context, cur **dir, path, at string, st *unix.Stat_t) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		s.t.Files.Add(1)
		s.t.Bytes.Add(st.Size)
	case unix.S_IFDIR:
		child, err := openDir(*cur, at, path, st)
		if err != nil {
			return nil
		}
		var werr error
		descend(cur, &s.held, child, func(c *dir) *dir {
			var last *dir
			last, werr = s.dir(ctx, c)
			return last
		})
		return werr
	}
	return nil
}

func (s *scanner) dir(ctx context.Context, d *dir) (*dir, error) {
	names, _ := readNames(d, s.buf)
	cur := d
	for _, name := range names {
		p := filepath.Join(d.path, name)
		if s.ex.excluded(p, name) {
			continue
		}
		var st unix.Stat_t
		if fstatat(cur.fd, name, &st) != nil {
			continue
		}
		if err := s.entry(ctx, &cur, p, name, &st); err != nil {
			return cur, err
		}
		if cur == nil {
			break
		}
	}
	return cur, nil
}
