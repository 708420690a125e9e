package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list

// coverage computes the per-namespace coverage metrics
// (cairn_namespace_*, cairn_volumes_missed) every Options.SyncInterval, on
// the leader, from the Backup objects (status.namespaces, status.volumes)
// and the cluster's namespaces: so they survive a restart of the
// controller, and a namespace that appeared and was never backed up shows.
type coverage struct{ base }

// Start is the manager Runnable.
func (c *coverage) Start(ctx context.Context) error {
	t := time.NewTicker(c.o.SyncInterval)
	defer t.Stop()
	for {
		if err := c.observe(ctx); err != nil && ctx.Err() == nil {
			logr.FromContextOrDiscard(ctx).Info("coverage metrics not updated", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: only the leader's metrics describe the cluster.
func (c *coverage) NeedLeaderElection() bool { return true }

// ObserveCoverage computes the per-namespace coverage metrics once (the
// manager does it every SyncInterval).
func (rs *Reconcilers) ObserveCoverage(ctx context.Context) error {
	return (&coverage{base: rs.Backup.base}).observe(ctx)
}

// observe sets, for every user namespace of the cluster (not a platform
// namespace of any Schedule, nor the defaults): when the newest Completed
// or PartiallyFailed backup that holds it ended — or, never backed up, when
// the namespace was created, so that an alert on the age fires for a new
// namespace only once a daily backup should have taken it —, whether it is
// opted out, and how many of its pod volumes that backup missed or failed.
func (c *coverage) observe(ctx context.Context) error {
	var backups cairnv1.BackupList
	if err := c.c.List(ctx, &backups, client.InNamespace(c.o.Namespace)); err != nil {
		return fmt.Errorf("list backups: %w", err)
	}
	var schedules cairnv1.ScheduleList
	if err := c.c.List(ctx, &schedules, client.InNamespace(c.o.Namespace)); err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	var nss corev1.NamespaceList
	if err := c.api.List(ctx, &nss); err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	platform := append([]string{c.o.Namespace}, backup.DefaultPlatformNamespaces...)
	optOut := []string{backup.DefaultOptOutLabel}
	for _, s := range schedules.Items {
		platform = append(platform, s.Spec.Template.PlatformNamespaces...)
		if l := s.Spec.Template.OptOutLabel; l != "" {
			optOut = append(optOut, l)
		}
	}
	newest := map[string]*cairnv1.Backup{}
	for i := range backups.Items {
		b := &backups.Items[i]
		if (b.Status.Phase != cairnv1.PhaseCompleted && b.Status.Phase != cairnv1.PhasePartiallyFailed) || b.Status.CompletionTimestamp == nil {
			continue
		}
		for _, ns := range b.Status.Namespaces {
			if n := newest[ns]; n == nil || b.Status.CompletionTimestamp.After(n.Status.CompletionTimestamp.Time) {
				newest[ns] = b
			}
		}
	}
	namespaceLastBackup.Reset()
	namespaceOptedOut.Reset()
	volumesMissed.Reset()
	for _, ns := range nss.Items {
		if slices.Contains(platform, ns.Name) {
			continue
		}
		out := 0.0
		for _, l := range optOut {
			if _, ok := ns.Labels[l]; ok {
				out = 1
			}
		}
		namespaceOptedOut.WithLabelValues(ns.Name).Set(out)
		b := newest[ns.Name]
		if b == nil {
			namespaceLastBackup.WithLabelValues(ns.Name).Set(float64(ns.CreationTimestamp.Unix()))
			volumesMissed.WithLabelValues(ns.Name).Set(0)
			continue
		}
		namespaceLastBackup.WithLabelValues(ns.Name).Set(float64(b.Status.CompletionTimestamp.Unix()))
		missed := 0
		if v := b.Status.Volumes; v != nil {
			for _, m := range append(append([]string(nil), v.Missed...), v.Failed...) {
				if strings.HasPrefix(m, ns.Name+"/") {
					missed++
				}
			}
		}
		volumesMissed.WithLabelValues(ns.Name).Set(float64(missed))
	}
	return nil
}
