package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors of the contract. Implementations wrap them with the
// operation and key (fmt.Errorf("put %s: %w", key, ErrExists)); callers test
// with errors.Is.
var (
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("object not found")
	// ErrExists: Put found an object with the key and left it unchanged.
	ErrExists = errors.New("object already exists")
	// ErrInvalidKey: the key is empty, absolute, has "." or ".." segments,
	// empty segments, a backslash or a NUL byte.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidRange: Get was asked for a negative offset or a range that
	// starts past the end of the object.
	ErrInvalidRange = errors.New("invalid range")
	// ErrLocked: the object is under retention (object lock) and cannot be
	// deleted or overwritten before the date the error message names.
	ErrLocked = errors.New("object is locked")
	// ErrNoSpace: the store ran out of space; nothing was stored under the key.
	ErrNoSpace = errors.New("no space left in store")
)

// Info describes one stored object.
type Info struct {
	Key     string    // full key, e.g. "data/ab/ab12…"
	Size    int64     // bytes
	ModTime time.Time // when it was written (as the store reports it)
}

// Store is a flat namespace of immutable objects addressed by keys such as
// "data/ab/ab12…" ('/'-separated segments of [A-Za-z0-9._-]).
//
// The contract, which the conformance suite in package storetest checks:
//
//   - Put stores data under key if and only if no object has that key yet.
//     If one exists it returns an error wrapping ErrExists and leaves the
//     stored object unchanged. A Put is atomic: readers see either no object
//     or the whole object, never a part, also after a crash mid-Put. A Put
//     that fails (ctx cancelled, no space) leaves no object under the key.
//   - Get returns length bytes starting at offset; length < 0 means "to the
//     end". A range past the end is truncated to the end; an offset past the
//     end is ErrInvalidRange. A missing key is ErrNotFound. The caller closes
//     the reader.
//   - Stat returns the object's Info or ErrNotFound.
//   - List calls fn for every object whose key starts with prefix, in no
//     particular order; an error from fn stops the listing and is returned
//     (errors.Is finds it). Objects put or deleted during a listing, also by
//     fn, may or may not be seen. A prefix no valid key can start with (see
//     ValidatePrefix) is ErrInvalidKey; a prefix that matches nothing lists
//     nothing.
//   - Delete removes the object; a missing key is ErrNotFound. A store with
//     object lock returns ErrLocked for objects under retention.
//   - Every method that takes a key returns ErrInvalidKey for a key that
//     ValidateKey rejects. Every method called with a ctx that is already
//     done returns an error wrapping ctx.Err() and changes nothing.
//
// A store that maps segments to directories (package local) cannot hold
// both "a" and "a/b": it refuses the second Put with an error that is not
// ErrExists. Repository layouts never need such a pair.
//
// Objects are never modified after they are written: there is no overwrite
// and no append. This is what lets an S3 bucket with object lock hold a
// repository.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, key string) error
	// Location names the store for people, e.g. "/srv/backup" or "s3://bucket/prefix".
	Location() string
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
