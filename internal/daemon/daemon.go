package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// RestConfig returns the cluster's connection: with neither path nor
// kubeContext given, the in-cluster config when there is one; else the
// kubeconfig path, or KUBECONFIG, or ~/.kube/config (kubectl's rules),
// with kubeContext or its current context.
func RestConfig(path, kubeContext string) (*rest.Config, error) {
	if path == "" && kubeContext == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return loadKubeconfig(rules, kubeContext)
}

// Kubeconfig loads the cluster's connection from kubeconfig files as
// kubectl does, without the in-cluster config (the CLI's way): path, else
// the files in KUBECONFIG, else ~/.kube/config, both read through getenv
// (an invocation's environment, not necessarily the process's); then
// kubeContext or the current context.
func Kubeconfig(path, kubeContext string, getenv func(string) string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	if env := getenv("KUBECONFIG"); env != "" {
		rules.Precedence = filepath.SplitList(env)
	} else if home := getenv("HOME"); home != "" {
		rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
	}
	return loadKubeconfig(rules, kubeContext)
}

func loadKubeconfig(rules *clientcmd.ClientConfigLoadingRules, kubeContext string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	return cfg, nil
}

// Main runs a binary's run with its arguments and a context that ends
// at SIGINT or SIGTERM; an error is printed after name and exits 1.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// KubeconfigUsage is the help of a binary's --kubeconfig flag (RestConfig's
// rules).
const KubeconfigUsage = "kubeconfig file (default: in-cluster config, else KUBECONFIG, else ~/.kube/config)"

// EnvOr returns the environment variable k, or def when it is unset or
// empty (a flag's default from the pod's environment).
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Logger logs JSON to stderr, at debug level when verbose.
func Logger(verbose bool) logr.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Scheme returns a scheme with the built-in types and cairn's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := cairnv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ManagerOptions configure a program's manager.
type ManagerOptions struct {
	// Name names the program in errors and the leader election lease.
	Name string
	// Namespace is the only namespace the cache holds.
	Namespace string
	// MetricsAddr and ProbeAddr are where /metrics and /healthz, /readyz
	// are served ("0" turns one off).
	MetricsAddr, ProbeAddr string
	// LeaderElection makes only one replica run the leader's Runnables
	// (lease Name in Namespace), released when the manager stops.
	LeaderElection bool
	// SeveralInProcess lets more than one manager run in this process,
	// one after the other (tests): controller-runtime otherwise refuses a
	// controller name it has seen.
	SeveralInProcess bool
	Log              logr.Logger
	// ClusterWide are the types the cache holds in every namespace (the
	// self-service objects, which live in the tenants' namespaces).
	ClusterWide []client.Object
	// Webhook, when set, is served by the manager (on every replica, not
	// only the leader).
	Webhook webhook.Server
}

// NewManager returns a manager for cfg with cairn's scheme, a cache of
// o.Namespace only, and /healthz and /readyz checks.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("%s: no namespace given", o.Name)
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	ctrl.SetLogger(o.Log)
	skip := o.SeveralInProcess
	co := cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
	for _, obj := range o.ClusterWide {
		if co.ByObject == nil {
			co.ByObject = map[client.Object]cache.ByObject{}
		}
		co.ByObject[obj] = cache.ByObject{Namespaces: map[string]cache.Config{cache.AllNamespaces: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  o.Log,
		Cache:                   co,
		WebhookServer:           o.Webhook,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        o.Name,
		LeaderElectionNamespace: o.Namespace,
		// The process exits right after the manager stops: the next
		// leader need not wait for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
