package core

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// CheckDirPath is bad input (exit 2) when dir cannot become a directory
// because it, or the nearest of its parents that exists, is not one: a
// repository path or a restore target that names a file. what names the
// flag for the message. A missing path is fine: it is created later.
func CheckDirPath(what, dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			if p == dir {
				return BadInput("%s %s is a file, not a directory", what, dir)
			}
			return BadInput("%s %s: %s is a file, not a directory", what, dir, p)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			// look at the parent
		default:
			return BadInput("%s %s: %v", what, dir, err)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// InSnapshot reports whether the slash-separated path rel names an entry
// of sn, loading only the trees on the way.
func InSnapshot(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, rel string) (bool, error) {
	tree := sn.Tree
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		t, err := snapshot.LoadTree(ctx, r, tree)
		if err != nil {
			return false, err
		}
		n := t.Find(name)
		switch {
		case n == nil:
			return false, nil
		case i == len(parts)-1:
			return true, nil
		case n.Type != snapshot.TypeDir || n.Subtree == nil:
			return false, nil
		}
		tree = *n.Subtree
	}
	return false, nil
}
