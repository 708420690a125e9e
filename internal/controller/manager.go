package controller

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/requester"

	"github.com/cairn-backup/cairn/internal/daemon"
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
	// one after the other (tests).
	SeveralInProcess bool
	// Webhook, when set, serves the NamespaceRestore admission webhook
	// (requester.Path) on every replica.
	Webhook webhook.Server
}

// Scheme returns a scheme with the built-in types and cairn's.
func Scheme() (*runtime.Scheme, error) { return daemon.Scheme() }

// Run runs the controller against the cluster of cfg until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o ManagerOptions) error {
	mgr, err := daemon.NewManager(cfg, daemon.ManagerOptions{
		Name: "cairn-controller", Namespace: o.Namespace, MetricsAddr: o.MetricsAddr, ProbeAddr: o.ProbeAddr,
		LeaderElection: o.LeaderElection, SeveralInProcess: o.SeveralInProcess, Log: o.Log,
		ClusterWide: []client.Object{&cairnv1.NamespaceBackup{}, &cairnv1.NamespaceRestore{}},
		Webhook:     o.Webhook,
	})
	if err != nil {
		return err
	}
	if o.Cluster == nil {
		o.Cluster = cfg
	}
	if _, err := Setup(mgr, o.Options); err != nil {
		return err
	}
	if o.Webhook != nil {
		// Through the manager: it runs the server only once asked for it.
		mgr.GetWebhookServer().Register(requester.Path, &webhook.Admission{Handler: &requester.Webhook{Key: o.RequesterKey}})
	}
	o.Log.Info("starting", "namespace", o.Namespace, "leaderElection", o.LeaderElection,
		"minRetention", o.Retention.Min, "maxRetention", o.Retention.Max, "defaultTTL", o.Retention.Default, "maxOperations", o.MaxOperations)
	return mgr.Start(ctx)
}
