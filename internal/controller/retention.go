package controller

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Retention holds the guardrails set at install: a backup is kept at
// least Min and at most Max (zero: no bound). Some laws require a minimum,
// GDPR argues for a maximum.
type Retention struct {
	Min, Max time.Duration
	// Default is the ttl of a backup that sets none.
	Default time.Duration
}

// ttl returns the ttl a spec asks for (Default when unset) and an error
// saying what to change when it is outside the guardrails. Zero means
// "never expires".
func (g Retention) ttl(spec *metav1.Duration) (time.Duration, error) {
	ttl := g.Default
	if spec != nil {
		ttl = spec.Duration
	}
	allowed := g.describe()
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("ttl %s is negative; %s", ttl, allowed)
	case ttl == 0 && g.Max > 0:
		return 0, fmt.Errorf("ttl 0 (keep forever) exceeds the maximum retention %s set at install; %s", g.Max, allowed)
	case ttl != 0 && g.Min > 0 && ttl < g.Min:
		return 0, fmt.Errorf("ttl %s is shorter than the minimum retention %s set at install; %s", ttl, g.Min, allowed)
	case g.Max > 0 && ttl > g.Max:
		return 0, fmt.Errorf("ttl %s is longer than the maximum retention %s set at install; %s", ttl, g.Max, allowed)
	}
	return ttl, nil
}

func (g Retention) describe() string {
	switch {
	case g.Min > 0 && g.Max > 0:
		return fmt.Sprintf("set a ttl between %s and %s", g.Min, g.Max)
	case g.Min > 0:
		return fmt.Sprintf("set a ttl of at least %s (or 0s to keep forever)", g.Min)
	case g.Max > 0:
		return fmt.Sprintf("set a ttl of at most %s", g.Max)
	}
	return "any ttl is allowed"
}
