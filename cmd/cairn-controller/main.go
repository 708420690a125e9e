package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/daemon"
	"github.com/cairn-backup/cairn/internal/requester"
)

func main() { daemon.Main("cairn-controller", run) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cairn-controller", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", daemon.KubeconfigUsage)
		kubeCtx    = fs.String("context", "", "kubeconfig context")
		o          controller.ManagerOptions
		verbose    = fs.Bool("v", false, "debug logging")
		keyFile    = fs.String("requester-key-file", "", "file with the key (at least 16 bytes) that signs and verifies the requesters of NamespaceRestores; without it self-service restores are refused")
		whPort     = fs.Int("webhook-port", 0, "port of the NamespaceRestore admission webhook (HTTPS; 0 = not served)")
		whHost     = fs.String("webhook-host", "", "address the webhook listens on (default: all)")
		whCertDir  = fs.String("webhook-cert-dir", "", "folder with the webhook's tls.crt and tls.key")
	)
	fs.StringVar(&o.Namespace, "namespace", daemon.EnvOr("POD_NAMESPACE", "cairn-system"), "namespace of the Backups, Restores, Schedules, BackupLocations and their Secrets")
	fs.BoolVar(&o.LeaderElection, "leader-elect", true, "elect a leader so that only one replica works (turn off for tests and local runs)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0 = off)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (0 = off)")
	fs.DurationVar(&o.Retention.Min, "min-retention", 0, "reject Backups and Schedules whose ttl is shorter (0 = no minimum)")
	fs.DurationVar(&o.Retention.Max, "max-retention", 0, "reject Backups and Schedules whose ttl is longer, or keeps forever (0 = no maximum)")
	fs.DurationVar(&o.Retention.Default, "default-ttl", 720*time.Hour, "ttl of a Backup that sets none")
	fs.DurationVar(&o.SyncInterval, "sync-interval", time.Minute, "how often each BackupLocation is checked, synced and pruned")
	fs.IntVar(&o.MaxOperations, "max-operations", 2, "Backups and Restores run at once; the others wait, New, for a free slot")
	fs.StringVar(&o.RestoreWaitImage, "restore-wait-image", daemon.EnvOr("CAIRN_RESTORE_WAIT_IMAGE", "busybox:1.36"), "image of the init container that holds a restored pod until its volume data is back")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.MaxOperations < 1 {
		return fmt.Errorf("--max-operations %d: at least 1", o.MaxOperations)
	}
	if o.Retention.Min > 0 && o.Retention.Max > 0 && o.Retention.Min > o.Retention.Max {
		return fmt.Errorf("--min-retention %s is longer than --max-retention %s", o.Retention.Min, o.Retention.Max)
	}
	if *keyFile != "" {
		key, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--requester-key-file: %w", err)
		}
		if len(bytes.TrimSpace(key)) < requester.MinKeyLen {
			return fmt.Errorf("--requester-key-file %s: the key has %d bytes, at least %d are needed", *keyFile, len(bytes.TrimSpace(key)), requester.MinKeyLen)
		}
		o.RequesterKey = bytes.TrimSpace(key)
	}
	if *whPort != 0 {
		if *whCertDir == "" {
			return fmt.Errorf("--webhook-port needs --webhook-cert-dir (tls.crt and tls.key)")
		}
		if o.RequesterKey == nil {
			return fmt.Errorf("--webhook-port needs --requester-key-file: the webhook signs with it")
		}
		o.Webhook = webhook.NewServer(webhook.Options{Host: *whHost, Port: *whPort, CertDir: *whCertDir})
	}
	o.Log = daemon.Logger(*verbose)
	cfg, err := daemon.RestConfig(*kubeconfig, *kubeCtx)
	if err != nil {
		return err
	}
	return controller.Run(ctx, cfg, o)
}
