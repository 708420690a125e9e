//go:build !fsonly

package cli

import (
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags are kubectl's connection flags.
type kubeFlags struct {
	kubeconfig, context string
}

func (k *kubeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context (default: its current context)")
}

// restConfig loads the cluster's connection as kubectl does: --kubeconfig,
// else the files in KUBECONFIG, else ~/.kube/config; then --context or the
// current context. A kubeconfig that cannot be used is bad input.
func (a *app) restConfig(k kubeFlags) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: k.kubeconfig}
	if env := a.env("KUBECONFIG"); env != "" {
		rules.Precedence = filepath.SplitList(env)
	} else if home := a.env("HOME"); home != "" {
		rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, badInput("kubeconfig: %v (set --kubeconfig or KUBECONFIG)", err)
	}
	return cfg, nil
}
