package controller

import (
	"errors"
	"fmt"
	"time"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// A calendar (grandfather-father-son) retention policy decides each
// backup's expiry when the backup is created — not later, by looking at
// which backups exist, as `forget --keep-daily` tools do — so that the
// backup's objects are locked for that long from their first byte
// (object lock at upload), and the controller's expiry forgets it when its
// rule ends. The first backup of a UTC day, ISO week, month and year (of
// the schedule's backups that did not fail) represents that period; it is
// kept for the longest of the rules it falls under.

// Retention rules (values of cairnv1.LabelRetentionRule).
const (
	ruleDaily   = "daily"
	ruleWeekly  = "weekly"
	ruleMonthly = "monthly"
	ruleYearly  = "yearly"
	ruleNone    = "none"
)

// gfsKeep returns how long a backup of a schedule with policy p that
// starts at t is kept, the rule that keeps it that long, and a sentence
// for people. others are the start times of the schedule's other backups
// that count (not Failed). A backup no rule keeps (a second one in a day)
// is kept floor: the minimum retention, else a day.
func gfsKeep(p cairnv1.ScheduleRetention, t time.Time, others []time.Time, floor time.Duration) (time.Duration, string, string) {
	t = t.UTC()
	first := func(key func(time.Time) string) bool {
		k := key(t)
		for _, o := range others {
			if key(o.UTC()) == k && o.Before(t) {
				return false
			}
		}
		return true
	}
	day := func(x time.Time) string { return x.Format("2006-01-02") }
	week := func(x time.Time) string { y, w := x.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }
	month := func(x time.Time) string { return x.Format("2006-01") }
	year := func(x time.Time) string { return x.Format("2006") }
	if floor <= 0 {
		floor = 24 * time.Hour
	}
	keep, rule, why := floor, ruleNone, "kept by no rule of the schedule's retention (not the first backup of a day, week, month or year)"
	for _, c := range []struct {
		n     int32
		key   func(time.Time) string
		until func(n int) time.Time
		rule  string
		name  string
	}{
		{p.KeepDaily, day, func(n int) time.Time { return t.AddDate(0, 0, n) }, ruleDaily, "keepDaily"},
		{p.KeepWeekly, week, func(n int) time.Time { return t.AddDate(0, 0, 7*n) }, ruleWeekly, "keepWeekly"},
		{p.KeepMonthly, month, func(n int) time.Time { return t.AddDate(0, n, 0) }, ruleMonthly, "keepMonthly"},
		{p.KeepYearly, year, func(n int) time.Time { return t.AddDate(n, 0, 0) }, ruleYearly, "keepYearly"},
	} {
		if c.n <= 0 || !first(c.key) {
			continue
		}
		if d := c.until(int(c.n)).Sub(t); d > keep || rule == ruleNone {
			keep, rule = max(d, floor), c.rule
			why = fmt.Sprintf("kept by %s=%d: the first backup of %s %s", c.name, c.n, periodName(c.rule), c.key(t))
		}
	}
	return keep, rule, why + ", until " + t.Add(keep).Format(time.RFC3339)
}

func periodName(rule string) string {
	return map[string]string{ruleDaily: "day", ruleWeekly: "week", ruleMonthly: "month", ruleYearly: "year"}[rule]
}

// gfsCheck checks a calendar policy against the guardrails: the longest
// rule within the maximum, every rule at least the minimum.
func (g Retention) gfsCheck(p cairnv1.ScheduleRetention, ttlSet bool) error {
	if ttlSet {
		return errors.New("set either spec.retention (keep by the calendar) or spec.template.ttl (one ttl for every backup), not both")
	}
	if p.KeepDaily <= 0 && p.KeepWeekly <= 0 && p.KeepMonthly <= 0 && p.KeepYearly <= 0 {
		return errors.New("spec.retention keeps nothing: set at least one of keepDaily, keepWeekly, keepMonthly, keepYearly")
	}
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // a year and months of the usual length
	for _, c := range []struct {
		n    int32
		name string
		d    time.Duration
	}{
		{p.KeepDaily, "keepDaily", ref.AddDate(0, 0, int(p.KeepDaily)).Sub(ref)},
		{p.KeepWeekly, "keepWeekly", ref.AddDate(0, 0, 7*int(p.KeepWeekly)).Sub(ref)},
		{p.KeepMonthly, "keepMonthly", ref.AddDate(0, int(p.KeepMonthly), 0).Sub(ref)},
		{p.KeepYearly, "keepYearly", ref.AddDate(int(p.KeepYearly), 0, 0).Sub(ref)},
	} {
		switch {
		case c.n <= 0:
		case g.Max > 0 && c.d > g.Max:
			return fmt.Errorf("%s=%d keeps backups about %s, longer than the maximum retention %s set at install", c.name, c.n, c.d, g.Max)
		case g.Min > 0 && c.d < g.Min:
			return fmt.Errorf("%s=%d keeps backups %s, shorter than the minimum retention %s set at install", c.name, c.n, c.d, g.Min)
		}
	}
	return nil
}
