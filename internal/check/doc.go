// Package check verifies a repository: that its index, snapshots and trees
// decode and reference only stored data, and (with ReadData) that every
// stored byte is intact. When it finds damage it names the damaged packs and
// the snapshots and files they affect, so that a person knows what can still
// be restored.
//
// It only reads; repairing is prune's or a new backup's job.
package check
