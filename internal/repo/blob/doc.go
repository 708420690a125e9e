// Package blob names the units the repository stores: chunks of file data
// and trees, each identified by a keyed hash of its plaintext.
//
// It holds only small value types shared by the pack, index and snapshot
// formats; it does no I/O and knows no keys.
package blob
