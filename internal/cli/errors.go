package cli

import "fmt"

// usageError marks an error as bad usage or bad input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badInput returns a bad-input error (exit 2).
func badInput(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// usage marks err as bad usage or bad input (exit 2).
func usage(err error) error { return usageError{err} }
