package core

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
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// RepoLocation is --repo or CAIRN_REPOSITORY.
func (a *App) RepoLocation() (string, error) {
	loc := a.RepoFlag
	if loc == "" {
		loc = a.Env("CAIRN_REPOSITORY")
	}
	if loc == "" {
		return "", BadInput("no repository given: set --repo or CAIRN_REPOSITORY")
	}
	return loc, nil
}

// IsS3 tells an S3 repository URL (s3flags.go) from a local one.
func IsS3(loc string) bool { return strings.HasPrefix(loc, "s3://") }

// RepoDir resolves --repo or CAIRN_REPOSITORY to the directory of a local
// store.
func (a *App) RepoDir() (string, error) {
	loc, err := a.RepoLocation()
	if err != nil {
		return "", err
	}
	p := loc
	switch {
	case IsS3(loc):
		return "", BadInput("repository %s is not a local directory", loc)
	case strings.HasPrefix(loc, "file://"):
		u, err := url.Parse(loc)
		if err != nil {
			return "", BadInput("repository %s: %v", loc, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", BadInput("repository %s: a file:// URL needs an absolute path (file:///srv/backup)", loc)
		}
		p = u.Path
	case strings.Contains(loc, "://"):
		return "", BadInput("repository %s: unsupported URL; use a path, file:// or s3://", loc)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", BadInput("repository %s: %v", loc, err)
	}
	return abs, nil
}

// existingRepoDir is repoDir for commands that need an initialized
// repository. It checks without creating anything: a mistyped --repo must
// not leave a directory behind.
func (a *App) existingRepoDir() (string, error) {
	dir, err := a.RepoDir()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", BadInput("repository %s does not exist (create it with `cairn repo init`)", dir)
	case err != nil:
		return "", fmt.Errorf("repository %s: %w", dir, err)
	case !fi.IsDir():
		return "", BadInput("repository %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, repo.ConfigKey)); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", dir, repo.ErrNotRepository)
	}
	return dir, nil
}

// OpenRepo opens the repository named by the global flags. The caller
// closes it.
func (a *App) OpenRepo(ctx context.Context) (*repo.Repository, error) {
	s, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	pass, err := a.Passphrase(false)
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, s, pass, a.RepoOptions(s))
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", s.Location(), err)
	}
	// The key derivation's memory (24 MiB, 64 for older keys) is garbage now: give it back before the
	// real work starts, so it does not add to peak memory.
	debug.FreeOSMemory()
	return r, nil
}

// openStore opens the store named by --repo; a local one must exist and
// hold a repository.
func (a *App) openStore(ctx context.Context) (store.Store, error) {
	loc, err := a.RepoLocation()
	if err != nil {
		return nil, err
	}
	if IsS3(loc) {
		return a.OpenS3(ctx, loc)
	}
	dir, err := a.existingRepoDir()
	if err != nil {
		return nil, err
	}
	s, err := local.New(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	return s, nil
}

// InitStore checks that --repo holds no repository yet and returns the
// function that makes its store, to call once the passphrase is known
// (a local store creates its directory).
func (a *App) InitStore(ctx context.Context) (func() (store.Store, error), error) {
	loc, err := a.RepoLocation()
	if err != nil {
		return nil, err
	}
	if IsS3(loc) {
		s, err := a.OpenS3(ctx, loc)
		if err != nil {
			return nil, err
		}
		if _, err := s.Stat(ctx, repo.ConfigKey); err == nil {
			return nil, fmt.Errorf("%s: %w", loc, repo.ErrAlreadyInitialized)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("repository %s: %w", loc, err)
		}
		return func() (store.Store, error) { return s, nil }, nil
	}
	dir, err := a.RepoDir()
	if err != nil {
		return nil, err
	}
	if err := CheckDirPath("repository", dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, repo.ConfigKey)); err == nil {
		return nil, fmt.Errorf("%s: %w", dir, repo.ErrAlreadyInitialized)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	return func() (store.Store, error) { return local.New(dir) }, nil
}

// RepoOptions are the engine's options for store s: remote stores get
// parallel uploads (round trips, not the disk, are what is slow there).
func (a *App) RepoOptions(s store.Store) repo.Options {
	o := repo.Options{Now: a.Now}
	if IsS3(s.Location()) {
		o.Uploads = 4
	}
	return o
}

// WithRepo opens the repository, runs fn and closes it.
func (a *App) WithRepo(ctx context.Context, fn func(r *repo.Repository) error) error {
	r, err := a.OpenRepo(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

// SourceStore opens the store of an existing repository at loc.
func (a *App) SourceStore(ctx context.Context, loc string) (store.Store, error) {
	b := *a
	b.RepoFlag = loc
	return b.openStore(ctx)
}
