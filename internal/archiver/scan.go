package archiver

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Totals counts what a scan has found so far; safe to read while the scan
// runs (atomics), so a progress display can show totals as they grow.
type Totals struct {
	Files atomic.Int64 // regular files
	Bytes atomic.Int64 // their sizes
}

// Scan walks paths the way Run does (symlinks not followed, the same
// exclude semantics, excludes not applied to the given paths themselves)
// and returns how many regular files it found and their total size. It
// reads no file content. Unreadable entries are skipped, not errors: Run
// reports them.
func Scan(ctx context.Context, paths, excludes []string) (files, bytes int64, err error) {
	var t Totals
	err = ScanInto(ctx, paths, excludes, &t)
	return t.Files.Load(), t.Bytes.Load(), err
}

// ScanInto is Scan that adds to t as it goes. It returns ctx's error if ctx
// ends first.
func ScanInto(ctx context.Context, paths, excludes []string, t *Totals) error {
	ex := &archiver{opts: Options{Excludes: excludes}}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			continue
		}
		if err := scanEntry(ctx, ex, abs, fi, t); err != nil {
			return err
		}
	}
	return nil
}

func scanEntry(ctx context.Context, ex *archiver, path string, fi os.FileInfo, t *Totals) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		t.Files.Add(1)
		t.Bytes.Add(fi.Size())
	case fi.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil
		}
		for _, e := range entries {
			p := filepath.Join(path, e.Name())
			if ex.excluded(p, e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			if err := scanEntry(ctx, ex, p, info, t); err != nil {
				return err
			}
		}
	}
	return nil
}
