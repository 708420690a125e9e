//go:build tools

// Package tools pins the Kubernetes components that hack/build-tools.sh
// builds for the tests (kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet). It is a separate module so that the main
// module's `go test ./...` and `go vet ./...` never descend into it.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
