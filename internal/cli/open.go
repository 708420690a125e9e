package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// repoDir resolves --repo or CAIRN_REPOSITORY to the directory of a local
// store. Other stores are bad input for now.
func (a *app) repoDir() (string, error) {
	loc := a.repoFlag
	if loc == "" {
		loc = a.env("CAIRN_REPOSITORY")
	}
	p := loc
	switch {
	case loc == "":
		return "", badInput("no repository given: set --repo or CAIRN_REPOSITORY")
	case strings.HasPrefix(loc, "s3://"):
		return "", badInput("repository %s: S3 store not built yet; use a local path or file:// URL", loc)
	case strings.HasPrefix(loc, "file://"):
		u, err := url.Parse(loc)
		if err != nil {
			return "", badInput("repository %s: %v", loc, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", badInput("repository %s: a file:// URL needs an absolute path (file:///srv/backup)", loc)
		}
		p = u.Path
	case strings.Contains(loc, "://"):
		return "", badInput("repository %s: unsupported URL; use a path, file:// or s3://", loc)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", badInput("repository %s: %v", loc, err)
	}
	return abs, nil
}

// existingRepoDir is repoDir for commands that need an initialized
// repository. It checks without creating anything: a mistyped --repo must
// not leave a directory behind.
func (a *app) existingRepoDir() (string, error) {
	dir, err := a.repoDir()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", badInput("repository %s does not exist (create it with `cairn repo init`)", dir)
	case err != nil:
		return "", fmt.Errorf("repository %s: %w", dir, err)
	case !fi.IsDir():
		return "", badInput("repository %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, repo.ConfigKey)); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", dir, repo.ErrNotRepository)
	}
	return dir, nil
}

// openRepo opens the repository named by the global flags. The caller
// closes it.
func (a *app) openRepo(ctx context.Context) (*repo.Repository, error) {
	dir, err := a.existingRepoDir()
	if err != nil {
		return nil, err
	}
	pass, err := a.passphrase(false)
	if err != nil {
		return nil, err
	}
	s, err := local.New(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	r, err := repo.Open(ctx, s, pass, repo.Options{Now: a.now})
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	// The key derivation's 64 MiB is garbage now: give it back before the
	// real work starts, so it does not add to peak memory.
	debug.FreeOSMemory()
	return r, nil
}

// withLock runs fn holding a repository lock.
func withLock(ctx context.Context, r *repo.Repository, exclusive bool, purpose string, fn func() error) error {
	l, err := r.Lock(ctx, exclusive, purpose)
	if err != nil {
		return fmt.Errorf("%s: %w", purpose, err)
	}
	err = fn()
	if uerr := l.Unlock(ctx); uerr != nil && err == nil {
		err = fmt.Errorf("%s: release lock: %w", purpose, uerr)
	}
	return err
}
