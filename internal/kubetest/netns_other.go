//go:build !linux

package kubetest

import "errors"

func inNetns(string, func() error) error {
	return errors.New("network namespaces are Linux only")
}
