// Package snapshot defines what a backup is made of: trees (one per
// directory, listing its entries with full metadata and the blobs of their
// content) and snapshot manifests (time, host, tags, paths, parent, summary,
// expiry) that point at a root tree.
//
// It encodes and decodes these and finds snapshots by ID, prefix or
// "latest". It does not read or write files on disk (archiver and restorer
// do) and knows nothing of Kubernetes.
package snapshot
