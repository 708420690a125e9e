// Package repo is cairn's storage engine: an encrypted, deduplicating,
// compressing repository of blobs on top of a store.Store. The format is
// specified in docs/design/repository-format.md; this package and its
// sub-packages are its only implementation.
//
// A Repository is opened with a passphrase (Init creates one). Callers save
// blobs (file chunks, trees) with SaveBlob, which deduplicates by keyed ID,
// compresses with zstd when that helps, encrypts with AES-256-GCM and packs
// blobs into pack files that are written once and never changed; Flush
// writes the index files that make them findable. Small whole objects
// (snapshot manifests, index files, locks) are stored unpacked, named by
// the SHA-256 of their stored bytes.
//
// Write order is what keeps a repository consistent after a crash: packs,
// then the index files naming them, then the snapshot manifest pointing at
// the trees. An object is never rewritten or appended to.
//
// One bad object must not make the rest unreadable: an index file that
// cannot be read is skipped and recorded (BadObjects), index files that
// newer ones supersede are ignored (RepairIndex, ReplaceIndex), and on a
// versioned store an object whose current version does not match its
// SHA-256 name is read from the older version that does (Shadowed).
//
// The package must not import anything from Kubernetes, nor know what a
// file or a Kubernetes object is: that is package snapshot and above.
package repo
