//go:build !fsonly

package core

import (
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeFlags are kubectl's connection flags.
type KubeFlags struct {
	Kubeconfig, context string
}

func (k *KubeFlags) Register(f *pflag.FlagSet) {
	f.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context (default: its current context)")
}

// RestConfig loads the cluster's connection as kubectl does: --kubeconfig,
// else the files in KUBECONFIG, else ~/.kube/config; then --context or the
// current context. A kubeconfig that cannot be used is bad input.
func (a *App) RestConfig(k KubeFlags) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: k.Kubeconfig}
	if env := a.Env("KUBECONFIG"); env != "" {
		rules.Precedence = filepath.SplitList(env)
	} else if home := a.Env("HOME"); home != "" {
		rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, BadInput("kubeconfig: %v (set --kubeconfig or KUBECONFIG)", err)
	}
	return cfg, nil
}
