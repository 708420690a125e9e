package store

import (
	"context"
	"io"
	"time"
)

// Version is one stored version of an object in a store that keeps them.
type Version struct {
	ID       string    // the store's version ID, opaque
	ModTime  time.Time // when this version was written
	Size     int64     // bytes
	IsLatest bool      // the version Get reads
}

// Versioned is the optional capability of a store that keeps the older
// versions of an object when it is overwritten (an S3 bucket with
// versioning, which object lock implies). Put never overwrites, but a client
// that bypasses the store (an attacker with the bucket's credentials, or
// another program) can put a new version over an object; the older ones are
// then still there, and a reader that knows what the object must hold can
// find the right one. Callers find the capability with a type assertion.
//
// The contract, which storetest.RunVersioned checks:
//
//   - Versioning reports whether the store keeps older versions now. When
//     it is false, Versions may still answer (one version per object) but
//     an overwrite replaces the object.
//   - Versions returns every version of exactly key (not of keys it is a
//     prefix of), newest first, the latest (the one Get reads) first of
//     all; delete markers are not versions. A key with no version is
//     ErrNotFound.
//   - GetVersion is Get on one version: the same range rules, ErrNotFound
//     for a version or key that does not exist.
type Versioned interface {
	Versioning(ctx context.Context) (bool, error)
	Versions(ctx context.Context, key string) ([]Version, error)
	GetVersion(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, error)
}
