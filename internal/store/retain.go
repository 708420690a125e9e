package store

import (
	"context"
	"time"
)

// Retention modes of object lock, as S3 names them (lower case).
const (
	// RetentionCompliance: nobody, not even the account's root, can delete
	// or overwrite the object or shorten its retention before it ends.
	RetentionCompliance = "compliance"
	// RetentionGovernance: as compliance, except that a principal with a
	// special permission can bypass it.
	RetentionGovernance = "governance"
)

// Retainer is the optional capability of a store with object lock (S3
// buckets created with object lock enabled): an object can be given a
// retain-until date before which the store refuses to delete it (Delete
// returns ErrLocked). Callers find it with a type assertion.
type Retainer interface {
	// ObjectLockEnabled reports whether the store can lock objects (for S3:
	// the bucket was created with object lock). Without it, SetRetention
	// fails.
	ObjectLockEnabled(ctx context.Context) (bool, error)
	// Retention returns the object's retain-until date, the zero time when
	// it has none; a missing object is ErrNotFound.
	Retention(ctx context.Context, key string) (time.Time, error)
	// SetRetention makes the object retained until at least until, in mode
	// (RetentionCompliance or RetentionGovernance). It never shortens: an
	// object already retained until until or later is left as it is.
	SetRetention(ctx context.Context, key string, until time.Time, mode string) error
}

// RetainedPutter is the optional capability of a store that can write an
// object with its retention already set, in the same request (for S3:
// PutObject with x-amz-object-lock-mode and -retain-until-date). There is
// then no instant at which the object exists unlocked. Callers find it with
// a type assertion; a store that implements it also implements Retainer.
type RetainedPutter interface {
	// PutRetained is Put (put-if-absent, atomic, ErrExists when the key is
	// taken) of an object retained until at least until in mode
	// (RetentionCompliance or RetentionGovernance). An existing object is
	// left as it is, its retention too: the caller extends it with
	// SetRetention when it needs to.
	PutRetained(ctx context.Context, key string, data []byte, until time.Time, mode string) error
}
