package controller

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// ManagerOptions configure the controller process.
type ManagerOptions struct {
	Options
	// LeaderElection makes only one replica reconcile at a time (lease
	// cairn-controller in Namespace).
	LeaderElection bool
	// MetricsAddr and ProbeAddr are where /metrics and /healthz, /readyz
	// are served ("0" turns one off).
	MetricsAddr, ProbeAddr string
	Log                    logr.Logger
	// SeveralInProcess lets more than one controller run in this process,
	// one after the other (tests): controller-runtime otherwise refuses a
	// controller name it has seen.
	SeveralInProcess bool
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

// Run runs the controller against the cluster of cfg until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o ManagerOptions) error {
	if o.Namespace == "" {
		return fmt.Errorf("controller: no namespace given")
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	ctrl.SetLogger(o.Log)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  o.Log,
		Cache:                   cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "cairn-controller",
		LeaderElectionNamespace: o.Namespace,
		// The process exits right after the manager stops: the next
		// leader need not wait for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &o.SeveralInProcess},
	})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if o.Cluster == nil {
		o.Cluster = cfg
	}
	if _, err := Setup(mgr, o.Options); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	o.Log.Info("starting", "namespace", o.Namespace, "leaderElection", o.LeaderElection,
		"minRetention", o.Retention.Min, "maxRetention", o.Retention.Max, "defaultTTL", o.Retention.Default)
	return mgr.Start(ctx)
}
