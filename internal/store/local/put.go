package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairn-backup/cairn/internal/store"
)

// Put stores data under key if no object has that key: it writes a
// temporary file, fsyncs it, links it into place (os.Link fails if the key
// exists, which makes put-if-absent atomic) and fsyncs the directories.
// Running out of space or quota is store.ErrNoSpace; a failed Put leaves
// nothing under the key and no temporary file.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	if err := l.put(ctx, key, data); err != nil {
		return fmt.Errorf("local: put %s: %w", key, err)
	}
	return nil
}

func (l *Local) put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	final := l.path(key)
	// Cheap early answer; the link below is what decides.
	if err := absent(final); err != nil {
		return err
	}
	tmp, err := l.writeTemp(data)
	if err != nil {
		return noSpace(err)
	}
	defer os.Remove(tmp) // the object, once linked, keeps its own name
	if l.beforeLink != nil {
		if err := l.beforeLink(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return noSpace(err)
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if errors.Is(absent(final), errDirKey) {
				return errDirKey
			}
			return store.ErrExists
		}
		return noSpace(err)
	}
	if err := l.syncDirs(key); err != nil {
		// The object may not survive a crash; take it back so that the
		// failed Put leaves nothing, as the contract says.
		os.Remove(final)
		return err
	}
	return nil
}

// absent returns nil if nothing is at the object's path, an error wrapping
// store.ErrExists if an object is, errDirKey if a directory is.
func absent(file string) error {
	fi, err := os.Lstat(file)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return errDirKey
	default:
		return store.ErrExists
	}
}

// writeTemp writes data to a new read-only file in the temporary area,
// fsyncs it and returns its name. On error it leaves no file behind.
func (l *Local) writeTemp(data []byte) (name string, err error) {
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Chmod(0o400); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), nil
}
