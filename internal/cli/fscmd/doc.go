// Package fscmd is the family of cairn commands for directories and
// repositories: fs backup and restore, snapshots, ls, forget, replicate,
// and repo (init, unlock, check, prune, stats, repair, key).
//
// The commands parse, open the repository (package core), call the engine
// (archiver, restorer, snapshot, check, prune, stats, replicate) and print.
// The package links nothing of Kubernetes: it is all of the fsonly build.
package fscmd
