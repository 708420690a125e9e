// Package stats sums up a repository: how many snapshots, packs and blobs,
// how much is stored, and what compression and deduplication saved. It
// only reads.
package stats
