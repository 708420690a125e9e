// Package pack reads and writes pack files: many encrypted blobs laid end to
// end, followed by an encrypted header that lists them, so that a pack can be
// understood (and the index rebuilt) from the pack alone.
//
//	pack    = blob* sealed_header header_length
//	blob    = nonce(12) || AES-256-GCM(encoding(1) || payload, ad = type(1) || id(32)) || tag(16)
//	header  = "CPK1" uvarint(n) entry*n            (sealed, ad = "cairn pack header")
//	entry   = type(1) id(32) uvarint(offset) uvarint(length) uvarint(raw_length)
//	header_length = uint32 little endian, length of sealed_header
//
// The package builds packs in memory and parses headers; it does not talk to
// a store and does not choose which blobs go together.
package pack
