package main

import (
	"context"
	"flag"
	"os"

	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/daemon"
	"github.com/cairn-backup/cairn/internal/podvolume"
)

func main() { daemon.Main("cairn-agent", run) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cairn-agent", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", daemon.KubeconfigUsage)
		o          agent.ManagerOptions
		verbose    = fs.Bool("v", false, "debug logging")
	)
	fs.StringVar(&o.Node, "node-name", os.Getenv("NODE_NAME"), "this node's name (env NODE_NAME): only its work items are taken")
	fs.StringVar(&o.Namespace, "namespace", daemon.EnvOr("POD_NAMESPACE", "cairn-system"), "namespace of the work items, BackupLocations and their Secrets")
	fs.StringVar(&o.Root, "pods-root", podvolume.DefaultRoot, "the kubelet's pods directory, as mounted in the agent")
	fs.IntVar(&o.Concurrency, "concurrency", agent.DefaultConcurrency, "volumes backed up (and restored) at once")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "address of /metrics (0 = off)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (0 = off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Log = daemon.Logger(*verbose)
	cfg, err := daemon.RestConfig(*kubeconfig, "")
	if err != nil {
		return err
	}
	return agent.Run(ctx, cfg, o)
}
