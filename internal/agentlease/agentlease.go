package agentlease

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// Duration: a node whose agent renewed its Lease within it has an
	// agent (the agent renews every third of it).
	Duration = 60 * time.Second
	// Prefix + node name is the agent's Lease in the namespace (the
	// chart's admission policy holds each agent to its own).
	Prefix = "cairn-agent-"
	// Label marks the agents' Leases.
	Label = "cairn.dev/agent"
)

// Name is the Lease of node's agent.
func Name(node string) string { return Prefix + node }

// Heartbeat renews node's Lease in namespace until ctx ends; a failed
// renewal is logged and tried again at the next tick.
func Heartbeat(ctx context.Context, c client.Client, namespace, node string, now func() time.Time) error {
	t := time.NewTicker(Duration / 3)
	defer t.Stop()
	for {
		if err := Renew(ctx, c, namespace, node, now()); err != nil && ctx.Err() == nil {
			ctrl.LoggerFrom(ctx).Error(err, "renew the agent's lease", "node", node)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Renew creates or renews node's Lease once, as of now.
func Renew(ctx context.Context, c client.Client, namespace, node string, now time.Time) error {
	var l coordinationv1.Lease
	key := client.ObjectKey{Namespace: namespace, Name: Name(node)}
	err := c.Get(ctx, key, &l)
	if apierrors.IsNotFound(err) {
		l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: key.Name, Labels: map[string]string{Label: "true"}}}
		fill(&l, node, now)
		return c.Create(ctx, &l)
	}
	if err != nil {
		return err
	}
	fill(&l, node, now)
	return c.Update(ctx, &l)
}

func fill(l *coordinationv1.Lease, node string, now time.Time) {
	t := metav1.NewMicroTime(now)
	l.Spec.HolderIdentity = ptr.To(node)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(Duration / time.Second))
	l.Spec.RenewTime = &t
}

// Nodes returns the nodes whose agent renewed its Lease in namespace
// within Duration of now.
func Nodes(ctx context.Context, c client.Reader, namespace string, now time.Time) (map[string]bool, error) {
	var list coordinationv1.LeaseList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{Label: "true"}); err != nil {
		return nil, fmt.Errorf("list the agents' leases: %w", err)
	}
	out := map[string]bool{}
	for _, l := range list.Items {
		if l.Spec.HolderIdentity != nil && l.Spec.RenewTime != nil && now.Sub(l.Spec.RenewTime.Time) < Duration {
			out[*l.Spec.HolderIdentity] = true
		}
	}
	return out, nil
}
