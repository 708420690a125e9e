// Package cli is the cairn command line: the command tree, its flags and
// environment, and how results are shown (tables, JSON, YAML, progress).
//
// Run executes one command line in-process, with its own standard streams
// and environment, and returns the exit code; cmd/cairn is a thin main
// around it and tests drive it directly. The cobra tree is built afresh for
// every call: the package has no global state.
//
// Commands only parse, open the repository, call the engine packages
// (repo, snapshot, archiver, restorer, check, prune, stats) and print. They
// hold no business logic of their own. Errors are mapped to exit codes in
// exactly one place, exit.go:
//
//	0 success, 1 failure, 2 bad usage or bad input, 3 partially failed.
//
// The package must not import the controller or anything that talks to a
// cluster on its own: standalone Kubernetes commands call package cluster.
package cli
