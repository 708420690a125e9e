package kopia

import "errors"

// Sentinel errors; every error of the package wraps one of them with the
// operation and the blob, content or object concerned.
var (
	// ErrNotKopia: the store holds no kopia repository (no
	// kopia.repository, or one that is not kopia's format blob).
	ErrNotKopia = errors.New("not a kopia repository")
	// ErrWrongPassword: the password does not open the repository's
	// configuration.
	ErrWrongPassword = errors.New("wrong kopia repository password")
	// ErrUnsupported: the repository uses a format version, algorithm or
	// feature this reader does not read; the message names it.
	ErrUnsupported = errors.New("unsupported kopia repository format")
	// ErrNotFound: a snapshot, content or pack blob is not in the
	// repository.
	ErrNotFound = errors.New("not found in the kopia repository")
	// ErrCorrupt: something read does not decrypt, decode or match its
	// hash.
	ErrCorrupt = errors.New("corrupt kopia repository data")
)
