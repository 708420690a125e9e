package erase

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
)

// Resurrection returns, for a restore of a backup taken at backupTime, a
// function that says why restoring an object would bring back erased data
// ("" when it would not): an erasure receipt newer than the backup names
// the object (its namespace, the object itself, or labels it has). A
// backup older than an erasure holds the data only when it was locked at
// the time; restoring it is then allowed, and the duty to delete the data
// again is the restorer's, so each such object gets a warning. It returns
// nil when no receipt is newer than the backup.
func Resurrection(ctx context.Context, r *repo.Repository, backupTime time.Time) (func(group, resource, kind, namespace, name string, objLabels map[string]string) string, error) {
	// A receipt that cannot be read cannot say what it erased: it is
	// skipped (`cairn repo check` names the damaged object).
	rcs, _, err := Receipts(ctx, r)
	if err != nil {
		return nil, err
	}
	type rule struct {
		rc  *Receipt
		sel labels.Selector
	}
	var rules []rule
	for _, rc := range rcs {
		if !rc.Time.After(backupTime) {
			continue
		}
		ru := rule{rc: rc}
		if rc.Spec.Selector != "" {
			sel, err := labels.Parse(rc.Spec.Selector)
			if err != nil {
				return nil, fmt.Errorf("erasure receipt of %s: selector: %w", rc.Target, err)
			}
			ru.sel = sel
		}
		rules = append(rules, ru)
	}
	if len(rules) == 0 {
		return nil, nil
	}
	return func(group, resource, kind, namespace, name string, objLabels map[string]string) string {
		for _, ru := range rules {
			s := ru.rc.Spec
			hit := false
			switch {
			case s.Namespace != "":
				hit = namespace == s.Namespace || (group == "" && resource == "namespaces" && name == s.Namespace)
			case s.Object != nil:
				hit = matchKind(layout.Resource{Group: group, Resource: resource, Kind: kind}, s.Object.Kind) &&
					namespace == s.Object.Namespace && name == s.Object.Name
			case ru.sel != nil:
				hit = ru.sel.Matches(labels.Set(objLabels))
			}
			if hit {
				return fmt.Sprintf("erased since this backup (%s, on %s): restoring it brings the erased data back; delete it again if the erasure still applies",
					ru.rc.Target, ru.rc.Time.Format(time.RFC3339))
			}
		}
		return ""
	}, nil
}
