package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/repo"
)

func (a *app) eraseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "erase",
		Short: "Erasure requests (GDPR Art. 17): where data is kept in backups, and until when",
	}
	cmd.AddCommand(a.erasePlanCommand())
	return cmd
}

func (a *app) erasePlanCommand() *cobra.Command {
	var (
		namespace, object, selector string
		replicas                    []string
	)
	cmd := &cobra.Command{
		Use:   "plan (--namespace NS | --object KIND/NS/NAME | --selector SEL) [--replica URL...]",
		Short: "List every backup that holds some data, its expiry, its lock's end, and when the last copy is gone",
		Long: `List every cluster backup and pod-volume snapshot in the repository (and in
each --replica, opened with the same passphrase) that holds the data of a
namespace, of one object (KIND/NAMESPACE/NAME, or KIND/NAME when
cluster-scoped; KIND as kind, resource or resource.group: configmap,
deployments.apps), or of the objects whose labels match a selector (every
object of every backup is read; pod volumes of matched Pods count too).

For each copy: when it was made, when it expires, until when its object
lock forbids deleting it, and the date after which the first prune removes
it. The last line gives the date by which the last copy is gone, or names
the backups that never expire. Nothing is changed; no lock is taken.`,
		Args: args(0, 0, "no arguments (the target is a flag)"),
		RunE: a.runE(func(ctx context.Context, _ []string) error {
			t, err := eraseTarget(namespace, object, selector)
			if err != nil {
				return err
			}
			var p erase.Plan
			if err := a.withRepo(ctx, func(r *repo.Repository) error { return p.Add(ctx, r, t) }); err != nil {
				return err
			}
			for _, u := range replicas {
				b := *a
				b.repoFlag = u
				if err := b.withRepo(ctx, func(r *repo.Repository) error { return p.Add(ctx, r, t) }); err != nil {
					return fmt.Errorf("replica %s: %w", u, err)
				}
			}
			return a.showErasePlan(&p)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&namespace, "namespace", "", "the namespace whose data is to be erased")
	f.StringVar(&object, "object", "", "one object: KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped)")
	f.StringVar(&selector, "selector", "", "the objects whose labels match this selector (e.g. customer=4711)")
	f.StringArrayVar(&replicas, "replica", nil, "also a replica of the repository (path or s3://bucket/prefix; repeatable)")
	return cmd
}

func eraseTarget(namespace, object, selector string) (erase.Target, error) {
	var t erase.Target
	n := 0
	if namespace != "" {
		t.Namespace = namespace
		n++
	}
	if object != "" {
		o, err := erase.ParseObject(object)
		if err != nil {
			return t, badInput("%v", err)
		}
		t.Object = o
		n++
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return t, badInput("--selector %q: %v", selector, err)
		}
		if sel.Empty() {
			return t, badInput("--selector %q selects everything: name the labels of the data to erase", selector)
		}
		t.Selector = sel
		n++
	}
	if n != 1 {
		return t, badInput("give exactly one of --namespace, --object and --selector")
	}
	return t, nil
}

func (a *app) showErasePlan(p *erase.Plan) error {
	if a.machine() {
		return a.emit(p)
	}
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return humanTime(*t)
	}
	if len(p.Copies) == 0 {
		a.say("no backup holds %s", p.Target)
	} else {
		w := a.table()
		row(w, "REPOSITORY", "BACKUP", "KIND", "WHAT", "CREATED", "EXPIRES", "LOCKED UNTIL", "GONE AFTER")
		for _, c := range p.Copies {
			what := c.Volume
			if c.Kind != "pod-volume" {
				what = fmt.Sprintf("%d objects", c.Objects)
			}
			row(w, c.Repository, dash(c.Backup), c.Kind, what, humanTime(c.Created), when(c.Expires, "never"), when(c.LockedUntil, "-"), when(c.GoneBy, "never"))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		switch {
		case len(p.Never) > 0:
			a.say("%d copies of %s never expire: they stay until forgotten (%v)", len(p.Never), p.Target, p.Never)
		case p.LastGoneBy != nil:
			a.say("%d copies of %s; the last is gone at the first prune after %s", len(p.Copies), p.Target, humanTime(*p.LastGoneBy))
		}
	}
	for _, u := range p.Unreadable {
		a.say("cannot tell, unreadable: %s", u)
	}
	if len(p.Unreadable) > 0 {
		return fmt.Errorf("%d backups could not be read: the plan may be incomplete (run `cairn repo check`)", len(p.Unreadable))
	}
	return nil
}
