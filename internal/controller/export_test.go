package controller

import (
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/hooks"
)

// SetHookExecutor makes the reconcilers run hooks with ex; the returned
// function puts the real one back.
func SetHookExecutor(ex hooks.Executor) (restore func()) {
	old := newHookExecutor
	newHookExecutor = func(*rest.Config) (hooks.Executor, error) { return ex, nil }
	return func() { newHookExecutor = old }
}
