// Package chunker splits a byte stream into content-defined chunks with
// FastCDC (Xia et al., 2016/2020): a gear rolling hash with normalized
// chunking, so that an insertion early in a file moves only the chunk
// boundaries near it and the rest of the file deduplicates.
//
// The gear table is derived from a secret seed (the repository's chunker
// key), so chunk lengths do not reveal content to someone who holds only the
// stored bytes. The package does no hashing or encryption of its own.
package chunker
