package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/repo"
)

func TestExitCodesOfRepositoryErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"lock lost beats partial", errors.Join(fmt.Errorf("x: %w", repo.ErrLockLost), archiver.ErrPartial), exitFailure, "run it again"},
		{"locked", fmt.Errorf("backup: %w: exclusive lock by prune", repo.ErrLocked), exitFailure, "cairn repo unlock"},
		{"tampered config", fmt.Errorf("open: config does not match: %w", repo.ErrCorrupt), exitFailure, "config does not match"},
		{"not a repository", fmt.Errorf("/x: %w", repo.ErrNotRepository), exitUsage, "cairn repo init"},
		{"no passphrase", repo.ErrNoPassword, exitUsage, "--password-file"},
	} {
		if got := exitCode(tt.err, true); got != tt.code {
			t.Errorf("%s: exit code %d, want %d", tt.name, got, tt.code)
		}
		if got := message(tt.err); !strings.Contains(got, tt.msg) {
			t.Errorf("%s: message %q, want it to say %q", tt.name, got, tt.msg)
		}
	}
}

// TestTamperedConfig: a config edited in the bucket is refused, exit 1.
func TestTamperedConfig(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	cfg := filepath.Join(e["CAIRN_REPOSITORY"], repo.ConfigKey)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `"pack_size": 16777216`, `"pack_size": 8388608`, 1))
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := cairn(t, e, "fs", "backup", sampleData(t)).must(t, 1)
	if !strings.Contains(res.stderr, "tampered with or replaced") {
		t.Errorf("stderr = %q", res.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	if got := exitCode(nil, true); got != 0 {
		t.Errorf("nil: %d", got)
	}
	if got := exitCode(errTest, false); got != exitUsage {
		t.Errorf("error before the command ran: %d", got)
	}
	if got := exitCode(errTest, true); got != exitFailure {
		t.Errorf("plain error: %d", got)
	}
	if got := message(errMultiLine); strings.Contains(got, "\n") {
		t.Errorf("message keeps a newline: %q", got)
	}
}

var (
	errTest      = errorString("boom")
	errMultiLine = errorString("first\nsecond\n")
)

type errorString string

func (e errorString) Error() string { return string(e) }
