package core

import "fmt"

// UsageError marks an error as bad usage or bad input (exit 2).
type UsageError struct{ err error }

func (e UsageError) Error() string { return e.err.Error() }
func (e UsageError) Unwrap() error { return e.err }

// BadInput returns a bad-input error (exit 2).
func BadInput(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// Usage marks err as bad usage or bad input (exit 2).
func Usage(err error) error { return UsageError{err} }
