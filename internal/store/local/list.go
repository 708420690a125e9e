package local

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/cairn-backup/cairn/internal/store"
)

// List calls fn for every object whose key starts with prefix. It walks only
// the deepest directory that prefix names in full ("data/ab" for prefix
// "data/ab/ab1") and skips subdirectories that cannot match, the temporary
// area, and any file or directory whose name is not a valid key segment.
func (l *Local) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: list %s: %w", prefix, err)
	}
	if err := store.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("local: list %s: %w", prefix, err)
	}
	base, root := "", l.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
		root = l.path(base)
	}
	var fnErr error
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notFound(err) { // root missing, or removed during the walk
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil // root: a file there is "base", which prefix excludes
		}
		key := p
		if base != "" {
			key = base + "/" + p
		}
		if store.ValidateKey(d.Name()) != nil {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Below the walk's root, prefix has no '/' left to match: a
			// directory holds matches only if its own key matches.
			if !strings.HasPrefix(key, prefix) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if notFound(err) { // deleted since the directory was read
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(store.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			fnErr = err
			return fs.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("local: list %s: %w", prefix, err)
	}
	return nil
}
