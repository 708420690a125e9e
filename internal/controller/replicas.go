package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/location"
	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// DefaultReplicaInterval is the time between two replications of a
// replica that sets no interval.
const DefaultReplicaInterval = time.Hour

// replicaStatus returns loc's status entry of replica name, or nil.
func replicaStatus(loc *cairnv1.BackupLocation, name string) *cairnv1.ReplicaStatus {
	for i := range loc.Status.Replicas {
		if loc.Status.Replicas[i].Name == name {
			return &loc.Status.Replicas[i]
		}
	}
	return nil
}

// replicasDue returns the replicas of loc due a replication now and, when
// none is, how long until the next one is (0: none configured).
func (r *LocationReconciler) replicasDue(loc *cairnv1.BackupLocation) ([]cairnv1.ReplicaSpec, time.Duration) {
	var due []cairnv1.ReplicaSpec
	var next time.Duration
	for _, rs := range loc.Spec.Replicas {
		every := DefaultReplicaInterval
		if rs.Interval != nil && rs.Interval.Duration > 0 {
			every = rs.Interval.Duration
		}
		st := replicaStatus(loc, rs.Name)
		if st == nil || st.LastAttempt == nil {
			due = append(due, rs)
			continue
		}
		switch wait := st.LastAttempt.Add(every).Sub(r.now()); {
		case wait <= 0:
			due = append(due, rs)
		case next == 0 || wait < next:
			next = wait
		}
	}
	return due, next
}

// runReplicas copies loc's repository into each replica of due, one after
// the other, and records each outcome in status.replicas. It is a
// maintenance operation, like a check: it needs no repository lock (it
// copies only objects a snapshot listed first references, and a pack a
// prune deletes meanwhile is reported vanished, not copied) and no key.
func (r *LocationReconciler) runReplicas(ctx context.Context, loc *cairnv1.BackupLocation, due []cairnv1.ReplicaSpec) {
	log := logr.FromContextOrDiscard(ctx).WithValues("location", loc.Name)
	src, err := location.OpenStore(ctx, r.repos.Secrets, loc)
	for _, rs := range due {
		if ctx.Err() != nil {
			return // stopping: the next leader replicates
		}
		start := r.now()
		st := cairnv1.ReplicaStatus{Name: rs.Name}
		if old := replicaStatus(loc, rs.Name); old != nil {
			st.LastSuccessfulTime = old.LastSuccessfulTime
		}
		at := metav1.NewTime(start.UTC().Truncate(time.Second))
		st.LastAttempt = &at
		var rep *replicate.Report
		rerr := err
		if rerr == nil {
			to, oerr := location.OpenReplica(ctx, r.repos.Secrets, loc, rs)
			if oerr != nil {
				rerr = oerr
			} else {
				log.Info("replication started", "replica", rs.Name, "to", to.Location())
				rep, rerr = replicate.Run(ctx, src, to, replicate.Options{Prune: rs.Prune, Now: r.now})
			}
		}
		if ctx.Err() != nil {
			return
		}
		if rep != nil {
			st.Objects, st.Bytes, st.Copied, st.CopiedBytes = rep.Objects, rep.Bytes, rep.Copied, rep.CopiedBytes
		}
		switch {
		case rerr == nil:
			st.Message = fmt.Sprintf("%d objects copied (%d bytes) of %d; %d already there", rep.Copied, rep.CopiedBytes, rep.Objects, rep.Present)
			if bad := append(append([]string(nil), rep.Damaged...), rep.Corrupt...); len(bad) > 0 {
				// Not a whole copy: the lag is not reset.
				st.Result = cairnv1.CheckDamaged
				st.Message += fmt.Sprintf("; %d objects damaged on the replica or corrupt at the source (first: %s)", len(bad), bad[0])
			} else {
				st.Result, st.LastSuccessfulTime = cairnv1.CheckOK, &at
			}
		default:
			st.Result = cairnv1.CheckFailed
			st.Message = truncate("the replication failed: "+rerr.Error(), 2000)
		}
		log.Info("replication finished", "replica", rs.Name, "result", st.Result, "message", st.Message, "took", r.now().Sub(start).Round(time.Second))
		before := loc.DeepCopy()
		kept := loc.Status.Replicas[:0:0]
		for _, o := range loc.Status.Replicas {
			for _, spec := range loc.Spec.Replicas {
				if o.Name == spec.Name {
					kept = append(kept, o) // a replica no longer listed loses its status
				}
			}
		}
		loc.Status.Replicas = kept
		if old := replicaStatus(loc, rs.Name); old != nil {
			*old = st
		} else {
			loc.Status.Replicas = append(loc.Status.Replicas, st)
		}
		observeReplicas(loc)
		if err := statuspatch.Outcome(ctx, r.c, loc, before); err != nil {
			log.Error(err, "record the replication's outcome; the replica is replicated again")
		}
	}
}
