package fscmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Add, list, remove and change the repository's keys (passphrases)",
		Long: `Every key is one passphrase that opens the repository. Keys can be added,
changed and removed without rewriting any data.

A new passphrase comes from --new-password-file or CAIRN_NEW_PASSWORD, or is
asked twice on a terminal.`,
	}
	a.Group(cmd)
	var newFile, label string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a passphrase that opens the repository",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.keyAdd(ctx, r, newFile, label) })
		}),
	}
	add.Flags().StringVar(&label, "label", "", "a note on who or what uses the key")
	add.Flags().StringVar(&newFile, "new-password-file", "", "file holding the new passphrase (env CAIRN_NEW_PASSWORD)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.keyList(ctx, r) })
		}),
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key (not the one in use)",
		Args:  core.Args(1, 1, "the key ID (or a unique prefix)"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.keyRemove(ctx, r, args[0]) })
		}),
	}
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the passphrase of the key in use",
		Args:  core.Args(0, 0, "no arguments"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			return a.WithRepo(ctx, func(r *repo.Repository) error { return a.keyPasswd(ctx, r, newFile) })
		}),
	}
	passwd.Flags().StringVar(&newFile, "new-password-file", "", "file holding the new passphrase (env CAIRN_NEW_PASSWORD)")
	cmd.AddCommand(add, list, remove, passwd)
	return cmd
}

func (a *app) keyAdd(ctx context.Context, r *repo.Repository, newFile, label string) error {
	pass, err := a.NewPassphrase(newFile)
	if err != nil {
		return err
	}
	id, err := r.AddKey(ctx, pass, label)
	if err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	if a.Machine() {
		return a.Emit(map[string]string{"id": id})
	}
	a.Say("added key %s", core.ShortID(id))
	return nil
}

func (a *app) keyList(ctx context.Context, r *repo.Repository) error {
	keys, err := r.Keys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	if a.Machine() {
		if keys == nil {
			keys = []repo.KeyInfo{}
		}
		return a.Emit(keys)
	}
	w := a.Table()
	core.Row(w, "ID", "CURRENT", "USER", "HOST", "CREATED", "LABEL")
	for _, k := range keys {
		cur := ""
		if k.Current {
			cur = "*"
		}
		core.Row(w, core.ShortID(k.ID), cur, k.User, k.Host, core.HumanTime(k.Created), k.Label)
	}
	return w.Flush()
}

func (a *app) keyRemove(ctx context.Context, r *repo.Repository, prefix string) error {
	id, err := resolveKey(ctx, r, prefix)
	if err != nil {
		return err
	}
	if err := r.RemoveKey(ctx, id); err != nil {
		return fmt.Errorf("remove key: %w", err)
	}
	if a.Machine() {
		return a.Emit(map[string]string{"removed": id})
	}
	a.Say("removed key %s", core.ShortID(id))
	return nil
}

// resolveKey finds a key by unique ID prefix; none or several is bad input.
func resolveKey(ctx context.Context, r *repo.Repository, prefix string) (string, error) {
	keys, err := r.Keys(ctx)
	if err != nil {
		return "", fmt.Errorf("list keys: %w", err)
	}
	var match []string
	for _, k := range keys {
		if prefix != "" && strings.HasPrefix(k.ID, prefix) {
			match = append(match, k.ID)
		}
	}
	switch len(match) {
	case 0:
		return "", core.BadInput("no key with ID %q (see `cairn repo key list`)", prefix)
	case 1:
		return match[0], nil
	}
	return "", core.BadInput("key ID prefix %q is ambiguous: %d keys match; give more characters", prefix, len(match))
}

func (a *app) keyPasswd(ctx context.Context, r *repo.Repository, newFile string) error {
	pass, err := a.NewPassphrase(newFile)
	if err != nil {
		return err
	}
	old := r.KeyID()
	id, err := r.ChangePassphrase(ctx, pass)
	if err != nil {
		return fmt.Errorf("change passphrase: %w", err)
	}
	if a.Machine() {
		return a.Emit(map[string]string{"id": id, "replaced": old})
	}
	a.Say("passphrase changed: key %s replaces key %s", core.ShortID(id), core.ShortID(old))
	return nil
}
