// Package crypto holds the repository's cryptography: the random master key,
// the sub-keys derived from it, passphrase-based key wrapping with argon2id,
// authenticated encryption (AES-256-GCM) of every stored byte, and the keyed
// BLAKE3 hash that names blobs.
//
// It is pure computation: no I/O, no knowledge of stores or formats beyond
// the byte strings it is handed.
package crypto
