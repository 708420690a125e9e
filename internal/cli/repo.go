package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

func (a *app) repoCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Create, check, prune and manage a repository"}
	a.group(cmd)
	cmd.AddCommand(a.initCommand(), a.keyCommand(), a.checkCommand(), a.pruneCommand(), a.statsCommand(), a.unlockCommand())
	return cmd
}

func (a *app) initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a repository protected by the passphrase",
		Long: `Create a repository at --repo, protected by the passphrase from
--password-file, CAIRN_PASSWORD_FILE or CAIRN_PASSWORD (asked twice on a
terminal). Keep the passphrase safe: without it the backups cannot be read.`,
		Args: args(0, 0, "no arguments"),
		RunE: a.runE(func(ctx context.Context, _ []string) error { return a.initRepo(ctx) }),
	}
}

// initResult is the output of `repo init`.
type initResult struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Key      string `json:"key"`
}

func (a *app) initRepo(ctx context.Context) error {
	dir, err := a.repoDir()
	if err != nil {
		return err
	}
	// Checked before asking for a passphrase, and before the store
	// creates anything.
	if _, err := os.Stat(filepath.Join(dir, repo.ConfigKey)); err == nil {
		return fmt.Errorf("%s: %w", dir, repo.ErrAlreadyInitialized)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("repository %s: %w", dir, err)
	}
	pass, err := a.passphrase(true)
	if err != nil {
		return err
	}
	s, err := local.New(dir)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	r, err := repo.Init(ctx, s, pass, repo.Options{Now: a.now})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer r.Close()
	res := initResult{ID: r.Config().ID, Location: s.Location(), Key: r.KeyID()}
	if a.machine() {
		return a.emit(res)
	}
	a.say("created repository %s at %s", shortID(res.ID), res.Location)
	a.say("keep the passphrase safe: without it the backups cannot be read")
	return nil
}

func (a *app) unlockCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale locks (all locks with --remove-all)",
		Args:  args(0, 0, "no arguments"),
		RunE: a.runE(func(ctx context.Context, _ []string) error {
			r, err := a.openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			n, err := r.RemoveStaleLocks(ctx, all)
			if err != nil {
				return fmt.Errorf("unlock: %w", err)
			}
			if a.machine() {
				return a.emit(map[string]int{"removed": n})
			}
			a.say("removed %d lock(s)", n)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, also live ones (only when no other cairn runs)")
	return cmd
}

// shortID is the first 8 characters of an ID.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
