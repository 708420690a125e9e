//go:build !fsonly

package core

import (
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/daemon"
)

// KubeFlags are kubectl's connection flags.
type KubeFlags struct {
	Kubeconfig, context string
}

// Register adds the flags to f.
func (k *KubeFlags) Register(f *pflag.FlagSet) {
	f.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context (default: its current context)")
}

// RestConfig loads the cluster's connection as kubectl does: --kubeconfig,
// else the files in KUBECONFIG, else ~/.kube/config (from the invocation's
// environment); then --context or the current context (daemon.Kubeconfig).
// A kubeconfig that cannot be used is bad input.
func (a *App) RestConfig(k KubeFlags) (*rest.Config, error) {
	cfg, err := daemon.Kubeconfig(k.Kubeconfig, k.context, a.Env)
	if err != nil {
		return nil, Usage(err)
	}
	return cfg, nil
}
