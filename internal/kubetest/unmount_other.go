//go:build !linux

package kubetest

// unmountUnder does nothing: a node runs on Linux only.
func unmountUnder(string) error { return nil }
