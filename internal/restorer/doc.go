// Package restorer writes a snapshot back to a directory under the
// persistent-volume restore rule of the seeds: every file in the snapshot
// replaces the file of the same name in the target, and every other file in
// the target is left as it was (no wipe). A file is written to a temporary
// name beside its target and renamed over it when complete, so a failed
// restore never leaves a half-written file where a good one was.
//
// It reads through repo.Repository and writes the file system; it knows
// nothing of Kubernetes or of the CLI.
package restorer
