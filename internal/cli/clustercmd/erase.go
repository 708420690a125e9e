//go:build !fsonly

package clustercmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func (a *app) eraseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "erase",
		Short: "Erasure requests (GDPR Art. 17): where data is kept in backups, and until when",
	}
	cmd.AddCommand(a.erasePlanCommand(), a.eraseApplyCommand())
	return cmd
}

func (a *app) eraseApplyCommand() *cobra.Command {
	var (
		namespace, object, selector string
		yes, noPrune                bool
	)
	cmd := &cobra.Command{
		Use:   "apply (--namespace NS | --object KIND/NS/NAME | --selector SEL) --yes",
		Short: "Remove some data from every backup that holds it, where its lock allows, and write an erasure receipt",
		Long: `Erase the data of a namespace, an object or the objects matching a selector
(as in erase plan) from this repository's backups, under the exclusive lock:

  - each cluster backup holding it is written again without it (same name,
    time, expiry and labels; new trees and a new snapshot: nothing stored is
    rewritten in place), and the old snapshot is deleted;
  - each pod-volume snapshot holding it is deleted;
  - a copy under object lock cannot be changed: it is listed with the date
    its lock ends, never skipped silently;
  - a receipt (a snapshot labelled cairn.dev/kind=erasure-receipt, without
    expiry) records what was asked, when, what was rewritten or deleted and
    what stays locked until when; it names backups, not the data;
  - then a prune rewrites every pack that holds data no snapshot uses any
    more (--no-prune leaves that to the next prune).

Replicas are erased by replicating again with --prune after this.`,
		Args: core.Args(0, 0, "no arguments (the target is a flag)"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			t, err := eraseTarget(namespace, object, selector)
			if err != nil {
				return err
			}
			if !yes {
				return core.BadInput("erase apply deletes data: run erase plan first, then again with --yes")
			}
			return a.WithRepo(ctx, func(r *repo.Repository) error {
				var rc *erase.Receipt
				var id string
				err := r.WithLock(ctx, repo.Exclusive, "erase", func(ctx context.Context) error {
					var err error
					rc, id, err = erase.Apply(ctx, r, t, erase.ApplyOptions{Now: a.Now, Retain: func(ctx context.Context, sn *snapshot.Snapshot) error {
						return a.RetainSnapshot(ctx, r, sn)
					}})
					if err != nil || noPrune {
						return err
					}
					// Every pack with any unused byte is rewritten: the
					// erased objects share packs with kept ones.
					_, err = prune.Run(ctx, r, prune.Options{MaxUnused: 1e-9, Now: a.Now})
					if err != nil {
						return fmt.Errorf("erase: the backups were rewritten (receipt %s) but the prune failed, run `cairn repo prune`: %w", id, err)
					}
					rc.Pruned = true
					return nil
				})
				if err != nil {
					return err
				}
				return a.showErasure(rc, id)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&namespace, "namespace", "", "the namespace whose data is to be erased")
	f.StringVar(&object, "object", "", "one object: KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped)")
	f.StringVar(&selector, "selector", "", "the objects whose labels match this selector (e.g. customer=4711)")
	f.BoolVar(&yes, "yes", false, "really delete")
	f.BoolVar(&noPrune, "no-prune", false, "do not prune afterwards (the data stays in packs until the next prune)")
	return cmd
}

func (a *app) showErasure(rc *erase.Receipt, id string) error {
	if a.Machine() {
		return a.Emit(struct {
			ID string `json:"receipt"`
			*erase.Receipt
		}{id, rc})
	}
	for _, w := range rc.Rewritten {
		a.Say("backup %s: written again without %d objects (snapshot %.8s replaces %.8s)", w.Backup, w.Objects, w.New, w.Old)
	}
	for _, c := range rc.Forgotten {
		a.Say("backup %s: volume snapshot %s (%.8s) deleted", core.Dash(c.Backup), c.Volume, c.Snapshot)
	}
	for _, c := range rc.Locked {
		a.Say("backup %s: LOCKED until %s, stays unchanged until then (%s %.8s)", core.Dash(c.Backup), core.HumanTime(*c.LockedUntil), c.Kind, c.Snapshot)
	}
	if !rc.Pruned {
		a.Say("not pruned yet: the data stays in the repository's packs until `cairn repo prune`")
	}
	a.Say("erasure receipt %.8s: %s", id, rc.Target)
	return nil
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
		Args: core.Args(0, 0, "no arguments (the target is a flag)"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error {
			t, err := eraseTarget(namespace, object, selector)
			if err != nil {
				return err
			}
			var p erase.Plan
			if err := a.WithRepo(ctx, func(r *repo.Repository) error { return p.Add(ctx, r, t) }); err != nil {
				return err
			}
			for _, u := range replicas {
				b := *a.App
				b.RepoFlag = u
				if err := b.WithRepo(ctx, func(r *repo.Repository) error { return p.Add(ctx, r, t) }); err != nil {
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
			return t, core.BadInput("%v", err)
		}
		t.Object = o
		n++
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return t, core.BadInput("--selector %q: %v", selector, err)
		}
		if sel.Empty() {
			return t, core.BadInput("--selector %q selects everything: name the labels of the data to erase", selector)
		}
		t.Selector = sel
		n++
	}
	if n != 1 {
		return t, core.BadInput("give exactly one of --namespace, --object and --selector")
	}
	return t, nil
}

func (a *app) showErasePlan(p *erase.Plan) error {
	if a.Machine() {
		return a.Emit(p)
	}
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return core.HumanTime(*t)
	}
	if len(p.Copies) == 0 {
		a.Say("no backup holds %s", p.Target)
	} else {
		w := a.Table()
		core.Row(w, "REPOSITORY", "BACKUP", "KIND", "WHAT", "CREATED", "EXPIRES", "LOCKED UNTIL", "GONE AFTER")
		for _, c := range p.Copies {
			what := c.Volume
			if c.Kind != "pod-volume" {
				what = fmt.Sprintf("%d objects", c.Objects)
			}
			core.Row(w, c.Repository, core.Dash(c.Backup), c.Kind, what, core.HumanTime(c.Created), when(c.Expires, "never"), when(c.LockedUntil, "-"), when(c.GoneBy, "never"))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		switch {
		case len(p.Never) > 0:
			a.Say("%d copies of %s never expire: they stay until forgotten (%v)", len(p.Never), p.Target, p.Never)
		case p.LastGoneBy != nil:
			a.Say("%d copies of %s; the last is gone at the first prune after %s", len(p.Copies), p.Target, core.HumanTime(*p.LastGoneBy))
		}
	}
	for _, u := range p.Unreadable {
		a.Say("cannot tell, unreadable: %s", u)
	}
	if len(p.Unreadable) > 0 {
		return fmt.Errorf("%d backups could not be read: the plan may be incomplete (run `cairn repo check`)", len(p.Unreadable))
	}
	return nil
}
