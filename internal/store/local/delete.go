package local

import (
	"context"
	"fmt"
	"os"

	"github.com/cairn-backup/cairn/internal/store"
)

// Delete removes the object's file. Directories emptied by it are left in
// place (Put would recreate them for the next object anyway).
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := l.delete(ctx, key); err != nil {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	return nil
}

func (l *Local) delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	file := l.path(key)
	fi, err := os.Lstat(file)
	if notFound(err) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return store.ErrNotFound
	}
	if err := os.Remove(file); notFound(err) {
		return store.ErrNotFound
	} else if err != nil {
		return err
	}
	return nil
}
