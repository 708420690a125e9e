// Package index maps blob IDs to where they are stored: which pack, at what
// offset, how long. It defines the index file format and the in-memory
// index an opened repository keeps.
//
//	index_file = AES-256-GCM(ad = "cairn index") of:
//	  "CIX1" uvarint(packs) pack*
//	| "CIX2" uvarint(keys) (uvarint(len) key)* uvarint(packs) pack*
//	  pack  = pack_id(32) uvarint(entries) entry*
//	  entry = type(1) id(32) uvarint(offset) uvarint(length) uvarint(raw_length)
//
// A "CIX2" file lists the store keys of the objects it supersedes (see
// File and docs/design/repository-format.md §7).
//
// The package does no I/O; the repository reads and writes index files.
package index
