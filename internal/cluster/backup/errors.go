package backup

import "errors"

// Sentinel errors.
var (
	// ErrPartial: the backup was saved, but some resource types or
	// namespaces could not be listed; the manifest's Errors say which and
	// why, and its phase is PartiallyFailed.
	ErrPartial = errors.New("backup partially failed")
	// ErrExists: a backup of that name is in the repository already.
	ErrExists = errors.New("backup already exists")
	// ErrBadObject: Writer.Add was given an object it cannot store (not
	// a JSON object, no name, a second version of a type).
	ErrBadObject = errors.New("object cannot be stored")
)

// fatal marks an error that ends the backup (the repository failed, the
// context ended), as opposed to a list that failed and is reported.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }
