package fscmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

func (a *app) repoCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Create, check, prune and manage a repository"}
	a.Group(cmd)
	cmd.AddCommand(a.initCommand(), a.keyCommand(), a.checkCommand(), a.pruneCommand(), a.statsCommand(), a.unlockCommand(), a.repairCommand())
	return cmd
}

func (a *app) initCommand() *cobra.Command {
	var lockMode string
	var margin string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repository protected by the passphrase",
		Long: `Create a repository at --repo, protected by the passphrase from
--password-file, CAIRN_PASSWORD_FILE or CAIRN_PASSWORD (asked twice on a
terminal). Keep the passphrase safe: without it the backups cannot be read.

With --object-lock (an S3 bucket created with object lock enabled), every
backup locks what it needs until its expiry plus --lock-margin: see
docs/design/object-lock.md.`,
		Args: core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			o := repo.Options{ObjectLock: lockMode}
			if margin != "" {
				d, err := core.ParseDuration("--lock-margin", margin)
				if err != nil {
					return err
				}
				o.LockMargin = d
			}
			switch lockMode {
			case "", store.RetentionCompliance, store.RetentionGovernance:
			default:
				return core.BadInput("--object-lock %q: want compliance or governance", lockMode)
			}
			return a.initRepo(ctx, o)
		}),
	}
	cmd.Flags().StringVar(&lockMode, "object-lock", "", "lock backups with S3 object lock: compliance or governance")
	cmd.Flags().StringVar(&margin, "lock-margin", "", "with --object-lock: how long past a backup's expiry its data stays locked (default 7d)")
	return cmd
}

// initResult is the output of `repo init`.
type initResult struct {
	ID         string `json:"id"`
	Location   string `json:"location"`
	Key        string `json:"key"`
	ObjectLock string `json:"object_lock,omitempty"`
}

func (a *app) initRepo(ctx context.Context, o repo.Options) error {
	// Checked before asking for a passphrase, and before the store
	// creates anything.
	newStore, err := a.InitStore(ctx)
	if err != nil {
		return err
	}
	pass, err := a.Passphrase(true)
	if err != nil {
		return err
	}
	s, err := newStore()
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	opts := a.RepoOptions(s)
	opts.ObjectLock, opts.LockMargin = o.ObjectLock, o.LockMargin
	r, err := repo.Init(ctx, s, pass, opts)
	if err != nil {
		if errors.Is(err, repo.ErrNoObjectLock) {
			return core.BadInput("init: %v", err)
		}
		return fmt.Errorf("init: %w", err)
	}
	defer r.Close()
	res := initResult{ID: r.Config().ID, Location: s.Location(), Key: r.KeyID(), ObjectLock: r.Config().ObjectLock}
	if a.Machine() {
		return a.Emit(res)
	}
	a.Say("created repository %s at %s", core.ShortID(res.ID), res.Location)
	if res.ObjectLock != "" {
		a.Say("object lock: %s mode, backups locked until their expiry plus %s", res.ObjectLock, r.Config().LockMarginDuration())
	}
	a.Say("keep the passphrase safe: without it the backups cannot be read")
	return nil
}

func (a *app) unlockCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale locks (all locks with --remove-all)",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			r, err := a.OpenRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			n, err := r.RemoveStaleLocks(ctx, all)
			if err != nil {
				return fmt.Errorf("unlock: %w", err)
			}
			if a.Machine() {
				return a.Emit(map[string]int{"removed": n})
			}
			a.Say("removed %d lock(s)", n)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, also live ones (only when no other cairn runs)")
	return cmd
}
