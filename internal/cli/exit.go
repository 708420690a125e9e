package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/s3"
)

// Exit codes (README.md, "Exit codes"; stable: scripts depend on them).
const (
	exitOK      = 0
	exitFailure = 1 // the work failed
	exitUsage   = 2 // bad usage or bad input: the command line must change
	exitPartial = 3 // the work finished but parts of it failed
)

// exitCode maps an error to the exit code. This is the only place that
// does: commands return errors wrapping the engine's sentinels.
func exitCode(err error, started bool) int {
	var usage core.UsageError
	switch {
	case err == nil:
		return exitOK
	case !started, errors.As(err, &usage):
		return exitUsage
	case errors.Is(err, repo.ErrLockLost): // stopped half-way, whatever else it reports
		return exitFailure
	case errors.Is(err, archiver.ErrPartial), errors.Is(err, restorer.ErrPartial), isClusterPartial(err):
		return exitPartial
	case errors.Is(err, repo.ErrNoPassword),
		errors.Is(err, repo.ErrWrongPassword),
		errors.Is(err, repo.ErrNotRepository),
		errors.Is(err, repo.ErrAlreadyInitialized),
		errors.Is(err, repo.ErrKeyInUse),
		errors.Is(err, snapshot.ErrNotFound):
		return exitUsage
	case errors.Is(err, check.ErrDamaged),
		errors.Is(err, repo.ErrCorrupt): // also a tampered or replaced config
		return exitFailure
	}
	return exitFailure
}

// message renders err as one actionable line (without the "cairn: " prefix).
//
// The engine's errors state what is wrong; the advice on what to run
// about it is the CLI's, and added here.
func message(err error) string {
	msg := err.Error()
	var unsafe *prune.UnsafeError
	switch {
	case errors.Is(err, repo.ErrLockLost):
		msg += " (the work was stopped before it finished: run it again)"
	case errors.Is(err, context.Canceled):
		msg = "interrupted: " + msg
	case errors.Is(err, repo.ErrWrongPassword):
		msg += " (check --password-file, CAIRN_PASSWORD_FILE or CAIRN_PASSWORD)"
	case errors.Is(err, repo.ErrNoPassword):
		msg += " (set --password-file, CAIRN_PASSWORD_FILE or CAIRN_PASSWORD)"
	case errors.Is(err, repo.ErrNotRepository):
		msg += " (run `cairn repo init`)"
	case errors.Is(err, repo.ErrLocked):
		msg += fmt.Sprintf(" (if its holder is gone, `cairn repo unlock` removes locks not refreshed for %d minutes;"+
			" `cairn repo unlock --remove-all` removes every lock, only when no other cairn runs)", int(repo.StaleAfter.Minutes()))
	case errors.As(err, &unsafe):
		msg += " (" + pruneAdvice(unsafe) + ")"
	case errors.Is(err, replicate.ErrSourceCorrupt):
		msg += " (run `cairn repo check --read-data` on the source)"
	case errors.Is(err, s3.ErrNoBucket):
		msg += " (create it, or check --repo and the endpoint)"
	case errors.Is(err, s3.ErrNoCredentials):
		msg += " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a credentials file with --s3-credentials-file or AWS_SHARED_CREDENTIALS_FILE)"
	default:
		msg += clusterAdvice(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
}

// pruneAdvice names the commands that show and mend what a prune refused
// over.
func pruneAdvice(e *prune.UnsafeError) string {
	advice := "run `cairn repo check`"
	if len(e.Unindexed) > 0 {
		return advice + ", then `cairn repo repair index` to rebuild the index from the packs"
	}
	var idx, snaps bool
	for _, key := range e.Unreadable {
		switch kind, _ := repo.KindOf(key); kind {
		case repo.KindIndex:
			idx = true
		case repo.KindSnapshot:
			snaps = true
		}
	}
	if idx {
		advice += "; `cairn repo repair index` rebuilds the index from the packs"
	}
	if snaps {
		advice += "; `cairn repo repair snapshots` removes unreadable snapshot files"
	}
	return advice
}
