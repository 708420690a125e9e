package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=schedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=schedules/status,verbs=get;update;patch

// TimeFormat is the UTC timestamp in the names of scheduled backups.
const TimeFormat = "20060102150405"

// ScheduleReconciler creates the Backups of Schedules.
type ScheduleReconciler struct {
	base
}

func (r *ScheduleReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("schedule").
		For(&cairnv1.Schedule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A backup of a schedule that finishes may be the last successful
		// one, or the end of the run that blocked the next.
		Watches(&cairnv1.Backup{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			s := o.GetLabels()[cairnv1.LabelSchedule]
			if s == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: s}}}
		})).
		Complete(r)
}

// parseSchedule parses a cron expression: five fields or a descriptor
// (@daily, @every 6h).
func parseSchedule(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v; use five fields (minute hour day-of-month month day-of-week, e.g. \"0 0 * * *\") or @daily, @hourly, @weekly, @every 6h", expr, err)
	}
	return s, nil
}

// Reconcile creates the Backup that is due, if any, and requeues at the
// next run.
func (r *ScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	var s cairnv1.Schedule
	if err := r.c.Get(ctx, req.NamespacedName, &s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := s.DeepCopy()
	result, err := r.reconcile(ctx, log, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !equalStatus(&before.Status, &s.Status) {
		// Decided from a read (which run is due): a Conflict reads again.
		if err := statuspatch.Transition(ctx, r.c, &s, before); err != nil {
			return ctrl.Result{}, err
		}
	}
	return result, nil
}

func (r *ScheduleReconciler) reconcile(ctx context.Context, log logr.Logger, s *cairnv1.Schedule) (ctrl.Result, error) {
	sched, err := parseSchedule(s.Spec.Schedule)
	if err == nil {
		if p := s.Spec.Retention; p != nil {
			err = r.o.Retention.gfsCheck(*p, s.Spec.Template.TTL != nil)
		} else {
			_, err = r.o.Retention.ttl(s.Spec.Template.TTL)
		}
	}
	if err == nil {
		if errs := validation.IsValidLabelValue(s.Name); len(errs) > 0 {
			err = fmt.Errorf("schedule name %q cannot be a label value (%s): use at most 63 characters", s.Name, errs[0])
		}
	}
	if err != nil {
		s.Status.Phase = cairnv1.SchedulePhaseFailed
		s.Status.NextRun = nil
		setReady(&s.Status.Conditions, s.Generation, false, cairnv1.ReasonInvalidSpec, "rejected: "+err.Error())
		return ctrl.Result{}, nil
	}

	var backups cairnv1.BackupList
	if err := r.c.List(ctx, &backups, client.InNamespace(s.Namespace), client.MatchingLabels{cairnv1.LabelSchedule: s.Name}); err != nil {
		return ctrl.Result{}, err
	}
	var running string
	for _, b := range backups.Items {
		switch b.Status.Phase {
		case "", cairnv1.PhaseNew, cairnv1.PhaseInProgress, cairnv1.PhaseWaitingForVolumes:
			running = b.Name
		case cairnv1.PhaseCompleted:
			if t := b.Status.CompletionTimestamp; t != nil && (s.Status.LastSuccessfulBackup == nil || t.After(s.Status.LastSuccessfulBackup.Time)) {
				s.Status.LastSuccessfulBackup, s.Status.LastSuccessfulBackupName = t, b.Name
			}
		}
	}

	observeSchedule(s)

	if s.Spec.Paused {
		s.Status.Phase = cairnv1.SchedulePhasePaused
		s.Status.NextRun = nil
		setReady(&s.Status.Conditions, s.Generation, false, cairnv1.ReasonPaused, "paused: no backups are created until spec.paused is false")
		return ctrl.Result{}, nil
	}

	now := r.now().UTC()
	last := s.CreationTimestamp.UTC()
	if s.Status.LastBackup != nil {
		last = s.Status.LastBackup.UTC()
	}
	due := lastDue(sched, last, now) // at most one missed run is caught up
	next := sched.Next(now)
	s.Status.Phase = cairnv1.SchedulePhaseEnabled
	s.Status.NextRun = &metav1.Time{Time: next}
	msg := "next backup at " + next.Format(time.RFC3339)

	if !due.IsZero() {
		if running != "" {
			// No overlap: the run is skipped, not postponed.
			msg = fmt.Sprintf("the run of %s was skipped: backup %s of this schedule is still running; %s", due.Format(time.RFC3339), running, msg)
			log.Info("scheduled run skipped: previous backup still running", "schedule", s.Name, "running", running)
			s.Status.LastBackup = &metav1.Time{Time: due}
		} else {
			name := s.Name + "-" + due.Format(TimeFormat)
			if err := r.createBackup(ctx, s, name, due, backups.Items); err != nil {
				return ctrl.Result{}, err
			}
			log.Info("scheduled backup created", "schedule", s.Name, "backup", name)
			s.Status.LastBackup, s.Status.LastBackupName = &metav1.Time{Time: due}, name
		}
	}
	setReady(&s.Status.Conditions, s.Generation, true, cairnv1.ReasonAvailable, msg)
	return ctrl.Result{RequeueAfter: next.Sub(now)}, nil
}

// lastDue returns the latest scheduled time after last and not after now,
// or the zero time when none is.
func lastDue(sched cron.Schedule, last, now time.Time) time.Time {
	var due time.Time
	for t := sched.Next(last); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due
}

// createBackup creates the backup name of s due at due; with a calendar
// retention, its ttl is the one the policy gives it (gfsKeep) among the
// schedule's backups that did not fail.
func (r *ScheduleReconciler) createBackup(ctx context.Context, s *cairnv1.Schedule, name string, due time.Time, backups []cairnv1.Backup) error {
	b := &cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.Namespace,
			Labels: map[string]string{cairnv1.LabelSchedule: s.Name},
		},
		Spec: *s.Spec.Template.DeepCopy(),
	}
	if p := s.Spec.Retention; p != nil {
		var others []time.Time
		for _, o := range backups {
			if o.Status.Phase == cairnv1.PhaseFailed || o.Name == name {
				continue
			}
			// The run's scheduled time, from its name; else when it was made.
			t := o.CreationTimestamp.Time
			if at, err := time.Parse(TimeFormat, strings.TrimPrefix(o.Name, s.Name+"-")); err == nil {
				t = at
			}
			others = append(others, t)
		}
		keep, rule, why := gfsKeep(*p, due, others, r.o.Retention.Min)
		if r.o.Retention.Max > 0 {
			keep = min(keep, r.o.Retention.Max) // a leap day must not make it refused
		}
		b.Spec.TTL = &metav1.Duration{Duration: keep}
		b.Labels[cairnv1.LabelRetentionRule] = rule
		b.Annotations = map[string]string{cairnv1.AnnotationRetention: why}
	}
	if err := r.c.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create backup %s: %w", name, err)
	}
	return nil
}

func equalStatus(a, b *cairnv1.ScheduleStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
