package local

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cairn-backup/cairn/internal/store"
)

// Get returns length bytes of the object starting at offset (length < 0:
// to the end). The reader reads the file directly; the caller closes it.
func (l *Local) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := l.get(ctx, key, offset, length)
	if err != nil {
		return nil, fmt.Errorf("local: get %s: %w", key, err)
	}
	return rc, nil
}

func (l *Local) get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: offset %d", store.ErrInvalidRange, offset)
	}
	f, err := os.Open(l.path(key))
	if notFound(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, store.ErrNotFound
	}
	size := fi.Size()
	if offset > size {
		f.Close()
		return nil, fmt.Errorf("%w: offset %d past end %d", store.ErrInvalidRange, offset, size)
	}
	n := size - offset
	if length >= 0 && length < n {
		n = length
	}
	return sectionReader{io.NewSectionReader(f, offset, n), f}, nil
}

type sectionReader struct {
	*io.SectionReader
	io.Closer
}

// Stat returns the object's size and modification time.
func (l *Local) Stat(ctx context.Context, key string) (store.Info, error) {
	info, err := l.stat(ctx, key)
	if err != nil {
		return store.Info{}, fmt.Errorf("local: stat %s: %w", key, err)
	}
	return info, nil
}

func (l *Local) stat(ctx context.Context, key string) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, err
	}
	if err := store.ValidateKey(key); err != nil {
		return store.Info{}, err
	}
	fi, err := os.Stat(l.path(key))
	if notFound(err) {
		return store.Info{}, store.ErrNotFound
	}
	if err != nil {
		return store.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return store.Info{}, store.ErrNotFound
	}
	return store.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
