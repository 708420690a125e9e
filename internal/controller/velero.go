package controller

import (
	"context"
	"fmt"
	"time"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/velero"
)

// veleroStep is how soon the location is reconciled again while Velero
// backups are still to be imported (one per step).
const veleroStep = time.Second

// importVelero takes one step of spec.veleroImport: it imports the oldest
// pending Velero backup that can be imported (unfinished, expired and
// clashing ones are passed over, as `cairn import velero` reports them),
// records the progress in status.veleroImport, and reports whether more
// may be pending. A failure is recorded there; the location stays usable.
func (r *LocationReconciler) importVelero(ctx context.Context, rp *repo.Repository, loc *cairnv1.BackupLocation) (more bool) {
	st := &cairnv1.VeleroImportStatus{LastTime: r.metaNow()}
	if old := loc.Status.VeleroImport; old != nil {
		st.Imported, st.Pending = old.Imported, old.Pending
	}
	loc.Status.VeleroImport = st
	s, err := location.OpenVelero(ctx, r.repos.Secrets, loc)
	if err != nil {
		st.Message = truncate(err.Error(), 2000)
		return false
	}
	vl := velero.NewLocation(s)
	pending, imported, err := velero.Pending(ctx, rp, vl)
	if err != nil {
		st.Message = truncate(err.Error(), 2000)
		return false
	}
	st.Imported, st.Pending = imported, len(pending)
	opts := velero.Options{
		CompletedOnly: loc.Spec.VeleroImport.CompletedOnly, Now: r.now,
		RetainNew: func(ctx context.Context, expires *time.Time) error {
			return rp.RetainNew(ctx, rp.Config().RetainUntil(r.now(), expires))
		},
		Retain: func(ctx context.Context, sn *snapshot.Snapshot) error {
			_, err := snapshot.Retain(ctx, rp, sn)
			return err
		},
	}
	for _, name := range pending {
		opts.Names = []string{name}
		var rep *velero.Report
		err := rp.WithLock(ctx, repo.Shared, "import velero "+name, func(ctx context.Context) error {
			var err error
			rep, err = velero.Import(ctx, rp, vl, opts)
			return err
		})
		if err != nil {
			st.Message = truncate(fmt.Sprintf("Velero backup %s: %v", name, err), 2000)
			return false
		}
		if res := rep.Results[0]; res.Outcome == velero.Imported {
			st.Imported++
			st.Pending--
			st.Message = fmt.Sprintf("imported Velero backup %s (%d objects)", name, res.Items)
			return st.Pending > 0
		}
	}
	st.Message = fmt.Sprintf("%d backups imported from %s; %d not importable (unfinished, expired, or their name is taken)",
		st.Imported, vl, st.Pending)
	return false
}
