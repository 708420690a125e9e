package core

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/cairn-backup/cairn/internal/repo"
)

// Passphrase returns the repository passphrase: --password-file, then
// CAIRN_PASSWORD_FILE, then CAIRN_PASSWORD, then a prompt when stdin is a
// terminal (asked twice when confirm is set, for a new repository). There
// is never a default.
func (a *App) Passphrase(confirm bool) ([]byte, error) {
	if a.PasswordFile != "" {
		return ReadPasswordFile(a.PasswordFile, "--password-file")
	}
	if f := a.Env("CAIRN_PASSWORD_FILE"); f != "" {
		return ReadPasswordFile(f, "CAIRN_PASSWORD_FILE")
	}
	if p := a.Env("CAIRN_PASSWORD"); p != "" {
		return []byte(p), nil
	}
	if fd, ok := a.terminal(a.Stdin); ok {
		return a.prompt(fd, "repository passphrase", confirm)
	}
	return nil, repo.ErrNoPassword
}

// NewPassphrase returns a passphrase for a new key: --new-password-file,
// then CAIRN_NEW_PASSWORD, then a prompt asked twice on a terminal.
func (a *App) NewPassphrase(file string) ([]byte, error) {
	if file != "" {
		return ReadPasswordFile(file, "--new-password-file")
	}
	if p := a.Env("CAIRN_NEW_PASSWORD"); p != "" {
		return []byte(p), nil
	}
	if fd, ok := a.terminal(a.Stdin); ok {
		return a.prompt(fd, "new passphrase", true)
	}
	return nil, BadInput("no new passphrase given: set --new-password-file or CAIRN_NEW_PASSWORD (or run on a terminal)")
}

// ReadPasswordFile reads a passphrase file (source names it in errors); one trailing newline is not
// part of the passphrase.
func ReadPasswordFile(path, source string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, BadInput("%s: %v", source, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, BadInput("%s: %s is empty", source, path)
	}
	return b, nil
}

// terminal reports whether r is a terminal, and its descriptor.
func (a *App) terminal(r any) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

func (a *App) prompt(fd int, what string, confirm bool) ([]byte, error) {
	ask := func(label string) ([]byte, error) {
		fmt.Fprintf(a.Stderr, "%s: ", label)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		return b, nil
	}
	p, err := ask("Enter " + what)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, BadInput("empty %s", what)
	}
	if !confirm {
		return p, nil
	}
	again, err := ask("Repeat " + what)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, BadInput("the two entries of the %s differ", what)
	}
	return p, nil
}
