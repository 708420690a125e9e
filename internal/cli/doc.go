// Package cli is the cairn command line: the command tree and its global
// flags, put together from families of commands, and the mapping of errors
// to exit codes.
//
// Run executes one command line in-process, with its own standard streams
// and environment, and returns the exit code; cmd/cairn is a thin main
// around it and tests drive it directly. The cobra tree is built afresh for
// every call: the package has no global state.
//
// The commands are in sub-packages, one a family, over a small shared
// core:
//
//	core        the invocation (App), output, repository opening, passphrase, progress
//	fscmd       fs, snapshots, ls, forget, replicate, repo (directories and repositories)
//	clustercmd  backup, restore, import velero, erase, report (a cluster, standalone)
//	ctlcmd      ctl: the custom resources cairn-controller reconciles
//
// The fsonly build (commands_fsonly.go) has fscmd alone and links nothing of
// Kubernetes. Commands only parse, open the repository, call the engine
// packages (repo, snapshot, archiver, restorer, check, prune, stats) and
// print. They hold no business logic of their own. Errors are mapped to
// exit codes in exactly one place, exit.go:
//
//	0 success, 1 failure, 2 bad usage or bad input, 3 partially failed.
//
// The CLI must not import the controller or anything that talks to a
// cluster on its own: standalone Kubernetes commands call package cluster.
package cli
