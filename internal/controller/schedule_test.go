package controller_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

func names(m map[string]cairnv1.Backup) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// A schedule fires on time with the fake clock, names its backups
// <schedule>-<UTC timestamp>, never overlaps, catches up at most one
// missed run, and pauses.
func TestScheduleFiring(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.create(&cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: e.ns},
		Spec: cairnv1.ScheduleSpec{Schedule: "0 * * * *", Template: cairnv1.BackupSpec{IncludedNamespaces: []string{"app"}, TTL: ttl(72 * time.Hour)}}})
	var s cairnv1.Schedule
	e.get("hourly", &s)
	created := s.CreationTimestamp.UTC()
	nextHour := created.Truncate(time.Hour).Add(time.Hour)

	// Not due yet: no backup, requeued at the next full hour.
	e.clock.Set(created)
	res := e.reconcile(e.rs.Schedule, "hourly")
	if bs := e.backups(); len(bs) != 0 {
		t.Fatalf("backups before the first run: %v", names(bs))
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > time.Hour {
		t.Errorf("requeue after %s, want until %s", res.RequeueAfter, nextHour)
	}
	e.get("hourly", &s)
	if s.Status.Phase != cairnv1.SchedulePhaseEnabled || s.Status.NextRun == nil || !s.Status.NextRun.Time.Equal(nextHour) {
		t.Fatalf("status %+v, want Enabled with nextRun %s", s.Status, nextHour)
	}

	// Due: one backup with the template, named after the run time.
	e.clock.Set(nextHour.Add(30 * time.Second))
	e.reconcile(e.rs.Schedule, "hourly")
	e.reconcile(e.rs.Schedule, "hourly") // idempotent
	first := "hourly-" + nextHour.Format("20060102150405")
	bs := e.backups()
	if len(bs) != 1 || bs[first].Name == "" {
		t.Fatalf("backups %v, want [%s]", names(bs), first)
	}
	if b := bs[first]; b.Labels[cairnv1.LabelSchedule] != "hourly" || b.Spec.TTL.Duration != 72*time.Hour || b.Spec.IncludedNamespaces[0] != "app" {
		t.Errorf("backup %s: labels %v, spec %+v", first, b.Labels, b.Spec)
	}

	// The next run comes while the first backup is still running: skipped.
	e.clock.Set(nextHour.Add(time.Hour + time.Minute))
	e.reconcile(e.rs.Schedule, "hourly")
	if bs := e.backups(); len(bs) != 1 {
		t.Fatalf("overlapping run: backups %v", names(bs))
	}

	// The first completes; the controller is down for five hours: one
	// backup catches up the latest missed run, not five.
	b := bs[first]
	b.Status.Phase = cairnv1.PhaseCompleted
	b.Status.StartTimestamp = &metav1.Time{Time: nextHour}
	b.Status.CompletionTimestamp = &metav1.Time{Time: nextHour.Add(time.Minute)}
	if err := e.c.Status().Update(e.ctx, &b); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(nextHour.Add(6*time.Hour + 10*time.Minute))
	e.reconcile(e.rs.Schedule, "hourly")
	caughtUp := "hourly-" + nextHour.Add(6*time.Hour).Format("20060102150405")
	if bs := e.backups(); len(bs) != 2 || bs[caughtUp].Name == "" {
		t.Fatalf("after downtime: backups %v, want %s and %s", names(bs), first, caughtUp)
	}
	e.get("hourly", &s)
	if s.Status.LastSuccessfulBackupName != first || s.Status.LastBackupName != caughtUp {
		t.Errorf("last successful %q, last %q", s.Status.LastSuccessfulBackupName, s.Status.LastBackupName)
	}

	// Paused: no backups, no next run.
	s.Spec.Paused = true
	if err := e.c.Update(e.ctx, &s); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(3 * time.Hour)
	e.reconcile(e.rs.Schedule, "hourly")
	e.get("hourly", &s)
	if s.Status.Phase != cairnv1.SchedulePhasePaused || s.Status.NextRun != nil || len(e.backups()) != 2 {
		t.Errorf("paused: phase %s, next %v, backups %v", s.Status.Phase, s.Status.NextRun, names(e.backups()))
	}
}

func TestScheduleRejectsBadCron(t *testing.T) {
	e := newEnv(t, noGuardrails)
	for name, expr := range map[string]string{"bad": "every day", "daily": "@daily", "five": "30 2 * * 1-5"} {
		e.create(&cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: cairnv1.ScheduleSpec{Schedule: expr}})
		e.reconcile(e.rs.Schedule, name)
		var s cairnv1.Schedule
		e.get(name, &s)
		want := cairnv1.SchedulePhaseEnabled
		if name == "bad" {
			want = cairnv1.SchedulePhaseFailed
		}
		if s.Status.Phase != want {
			t.Errorf("%s (%q): phase %s, want %s; %+v", name, expr, s.Status.Phase, want, s.Status.Conditions)
		}
	}
}

var _ = controller.TimeFormat

// A Schedule with a calendar retention: its runs get the ttl and the rule
// the policy gives them when they are created (the first of the day kept
// keepDaily days, a second one the same day the minimum retention), and a
// retention outside the guardrails, or next to a ttl, is refused.
func TestScheduleCalendarRetention(t *testing.T) {
	e := newEnv(t, controller.Retention{Min: 48 * time.Hour, Max: 400 * 24 * time.Hour, Default: 720 * time.Hour})
	e.create(&cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: "gfs", Namespace: e.ns},
		Spec: cairnv1.ScheduleSpec{Schedule: "0 */12 * * *", Template: cairnv1.BackupSpec{IncludedNamespaces: []string{"app"}},
			Retention: &cairnv1.ScheduleRetention{KeepDaily: 7, KeepMonthly: 12}}})
	var s cairnv1.Schedule
	e.get("gfs", &s)
	run := func(at time.Time) cairnv1.Backup {
		t.Helper()
		e.clock.Set(at.Add(time.Second))
		e.reconcile(e.rs.Schedule, "gfs")
		name := "gfs-" + at.Format(controller.TimeFormat)
		b, ok := e.backups()[name]
		if !ok {
			t.Fatalf("no backup %s: %v", name, names(e.backups()))
		}
		// As if it ran and completed (the schedule skips a run while one is running).
		b.Status = cairnv1.BackupStatus{Phase: cairnv1.PhaseCompleted, StartTimestamp: &metav1.Time{Time: at}, CompletionTimestamp: &metav1.Time{Time: at.Add(time.Minute)}}
		if err := e.c.Status().Update(e.ctx, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	day := s.CreationTimestamp.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	first := run(day)
	second := run(day.Add(12 * time.Hour))
	next := run(day.AddDate(0, 0, 1))
	monthly := first.Labels[cairnv1.LabelRetentionRule] == "monthly"
	if (!monthly && first.Labels[cairnv1.LabelRetentionRule] != "daily") || (!monthly && first.Spec.TTL.Duration != 7*24*time.Hour) {
		t.Errorf("first of the day: rule %q, ttl %s; want daily, 168h (or monthly on the 1st)", first.Labels[cairnv1.LabelRetentionRule], first.Spec.TTL)
	}
	if second.Labels[cairnv1.LabelRetentionRule] != "none" || second.Spec.TTL.Duration != 48*time.Hour || !strings.Contains(second.Annotations[cairnv1.AnnotationRetention], "no rule") {
		t.Errorf("second of the day: rule %q, ttl %s, %q; want none, the 48h minimum", second.Labels[cairnv1.LabelRetentionRule], second.Spec.TTL, second.Annotations[cairnv1.AnnotationRetention])
	}
	if r := next.Labels[cairnv1.LabelRetentionRule]; r != "daily" && r != "monthly" {
		t.Errorf("first of the next day: rule %q", r)
	}

	for _, c := range []struct {
		name string
		spec cairnv1.ScheduleSpec
		want string
	}{
		{"both", cairnv1.ScheduleSpec{Schedule: "@daily", Template: cairnv1.BackupSpec{TTL: ttl(72 * time.Hour)}, Retention: &cairnv1.ScheduleRetention{KeepDaily: 7}}, "either"},
		{"too-long", cairnv1.ScheduleSpec{Schedule: "@daily", Retention: &cairnv1.ScheduleRetention{KeepYearly: 2}}, "maximum"},
		{"too-short", cairnv1.ScheduleSpec{Schedule: "@daily", Retention: &cairnv1.ScheduleRetention{KeepDaily: 1}}, "minimum"},
	} {
		e.create(&cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: e.ns}, Spec: c.spec})
		e.reconcile(e.rs.Schedule, c.name)
		var got cairnv1.Schedule
		e.get(c.name, &got)
		if got.Status.Phase != cairnv1.SchedulePhaseFailed || len(got.Status.Conditions) == 0 || !strings.Contains(got.Status.Conditions[0].Message, c.want) {
			t.Errorf("schedule %s: %s %+v; want Failed saying %q", c.name, got.Status.Phase, got.Status.Conditions, c.want)
		}
	}
}
