package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// Defaults of a location's scheduled check (spec.check).
const (
	DefaultCheckInterval  = 24 * time.Hour
	DefaultReadDataShares = 30
)

// checkDue returns how long until loc's next scheduled check (≤ 0: due
// now), and false when scheduled checks are off.
func (r *LocationReconciler) checkDue(loc *cairnv1.BackupLocation) (time.Duration, bool) {
	every := DefaultCheckInterval
	if d := loc.Spec.Check.Interval; d != nil {
		every = d.Duration
	}
	if every <= 0 {
		return 0, false
	}
	if loc.Status.LastCheck == nil {
		return 0, true
	}
	return loc.Status.LastCheck.Time.Add(every).Sub(r.now()), true
}

// runCheck checks loc's repository — its structure, and the next share of
// its packs' data (spec.check.readDataShares) — and records the outcome
// in status.lastCheck. It is a maintenance operation (one at a time, in a
// pool of its own: a check never takes a slot a Backup or Restore waits
// for) and holds the repository's shared lock, which backups share; it
// opens the repository without the per-location serialization of
// Repos.With, so backups to the location go on while it reads.
func (r *LocationReconciler) runCheck(ctx context.Context, loc *cairnv1.BackupLocation) {
	log := logr.FromContextOrDiscard(ctx).WithValues("location", loc.Name)
	start := r.now()
	opts := check.Options{}
	shares := int(ptr.Deref(loc.Spec.Check.ReadDataShares, DefaultReadDataShares))
	share := 0
	if shares > 0 {
		share = int(loc.Status.CheckShare)%shares + 1
		opts.Subset = check.Subset{N: share, Of: shares}
	}
	log.Info("integrity check started", "share", opts.Subset.String())
	var rep *check.Report
	err := r.repos.Read(ctx, loc, func(rp *repo.Repository) error {
		return rp.WithLock(ctx, repo.Shared, "check", func(ctx context.Context) error {
			var err error
			rep, err = check.Run(ctx, rp, opts)
			return err
		})
	})
	if ctx.Err() != nil {
		return // stopping: the next leader checks
	}
	res := &cairnv1.LocationCheck{Time: metav1.NewTime(start.UTC().Truncate(time.Second)), Duration: metav1.Duration{Duration: r.now().Sub(start).Round(time.Second)}}
	if shares > 0 {
		res.Share = opts.Subset.String()
	}
	if rep != nil {
		res.PacksRead, res.DamagedPacks = rep.PacksRead, len(rep.DamagedPacks)
	}
	switch {
	case err == nil:
		res.Result = cairnv1.CheckOK
		res.Message = fmt.Sprintf("%d snapshots, %d packs, %d blobs: no problem found", rep.Snapshots, rep.Packs, rep.Blobs)
		if shares > 0 {
			res.Message += fmt.Sprintf("; %d packs of share %s read and verified", rep.PacksRead, res.Share)
		}
	case errors.Is(err, check.ErrDamaged) && rep != nil:
		res.Result = cairnv1.CheckDamaged
		res.Message = truncate(fmt.Sprintf("%v; first: %s (run `cairn repo check --read-data` against the repository for the files affected)", err, firstProblem(rep)), 2000)
	default:
		res.Result = cairnv1.CheckFailed
		res.Message = truncate("the check could not run: "+err.Error(), 2000)
	}
	before := loc.DeepCopy()
	loc.Status.LastCheck = res
	if res.Result == cairnv1.CheckOK {
		loc.Status.LastSuccessfulCheckTime = &res.Time
	}
	if res.Result != cairnv1.CheckFailed {
		loc.Status.CheckShare = int32(share)
	}
	log.Info("integrity check finished", "result", res.Result, "packsRead", res.PacksRead, "damagedPacks", res.DamagedPacks, "took", res.Duration.Duration, "message", res.Message)
	observeCheck(loc)
	if err := statuspatch.Outcome(ctx, r.c, loc, before); err != nil {
		log.Error(err, "record the check's outcome; the location is checked again")
	}
}

// firstProblem names the first thing a check found wrong.
func firstProblem(rep *check.Report) string {
	switch {
	case len(rep.DamagedPacks) > 0:
		return "pack " + rep.DamagedPacks[0].ID + ": " + rep.DamagedPacks[0].Reason
	case len(rep.Errors) > 0:
		return rep.Errors[0]
	}
	return "none named"
}
