package repo

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrWrongPassword: no key file of the repository opens with the passphrase.
	ErrWrongPassword = errors.New("wrong passphrase: no key of the repository matches")
	// ErrNoPassword: a passphrase is required and none was given.
	ErrNoPassword = errors.New("no passphrase given; there is no default")
	// ErrNotRepository: the store holds no repository config.
	ErrNotRepository = errors.New("no repository at this location")
	// ErrAlreadyInitialized: Init found an existing repository.
	ErrAlreadyInitialized = errors.New("a repository already exists at this location")
	// ErrBlobNotFound: no index entry for a blob.
	ErrBlobNotFound = errors.New("blob not in index")
	// ErrCorrupt: stored bytes fail authentication or do not parse.
	ErrCorrupt = errors.New("repository data is corrupt")
	// ErrLocked: another process holds a conflicting lock.
	ErrLocked = errors.New("repository is locked")
	// ErrLockLost: a held lock could not be refreshed in time, or was
	// removed; the work it guarded was stopped.
	ErrLockLost = errors.New("repository lock lost")
	// ErrChanged: the repository at the location is not the one opened
	// (it was re-created since).
	ErrChanged = errors.New("the repository at this location was replaced")
	// ErrKeyInUse: the key that opened the repository cannot be removed by itself.
	ErrKeyInUse = errors.New("key is in use")
)
