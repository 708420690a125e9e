// Package store defines where a repository's bytes live: a small interface
// over a flat namespace of immutable objects, with a written contract and
// sentinel errors.
//
// Implementations live in sub-packages (local: a directory on disk; mem: in
// memory, for tests; s3: S3-compatible object storage) and all pass the one
// conformance suite in storetest.
//
// This package knows nothing about what the bytes mean: it must not import
// the repository (internal/repo) or anything from Kubernetes.
package store
