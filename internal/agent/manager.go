package agent

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/daemon"
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
// read uncached, one at a time. Every node runs one: no leader election.
func Run(ctx context.Context, cfg *rest.Config, o ManagerOptions) error {
	mgr, err := daemon.NewManager(cfg, daemon.ManagerOptions{
		Name: "cairn-agent", Namespace: o.Namespace, MetricsAddr: o.MetricsAddr, ProbeAddr: o.ProbeAddr, Log: o.Log,
	})
	if err != nil {
		return err
	}
	if err := Setup(mgr, o.Options); err != nil {
		return err
	}
	o.Log.Info("starting", "node", o.Node, "namespace", o.Namespace, "root", o.Root, "concurrency", o.Concurrency)
	return mgr.Start(ctx)
}
