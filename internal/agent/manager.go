package agent

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// ManagerOptions configure the agent process.
type ManagerOptions struct {
	Options
	// MetricsAddr and ProbeAddr are where /metrics and /healthz, /readyz
	// are served ("0" turns one off).
	MetricsAddr, ProbeAddr string
	Log                    logr.Logger
}

// Run runs the agent against the cluster of cfg until ctx ends. Its cache
// holds the work items of o.Namespace only; pods, claims and volumes are
// read uncached, one at a time.
func Run(ctx context.Context, cfg *rest.Config, o ManagerOptions) error {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return err
	}
	if err := cairnv1.AddToScheme(s); err != nil {
		return err
	}
	ctrl.SetLogger(o.Log)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 s,
		Logger:                 o.Log,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := Setup(mgr, o.Options); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	o.Log.Info("starting", "node", o.Node, "namespace", o.Namespace, "root", o.Root, "concurrency", o.Concurrency)
	return mgr.Start(ctx)
}
