package controller

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// A daily schedule with keepDaily 7, keepWeekly 4, keepMonthly 12 and
// keepYearly 2, simulated day by day over three years on an injected
// clock, each backup's expiry decided when it is made (as the Schedule
// reconciler does) and expired backups forgotten: on every day after the
// first year the backups alive are exactly the last 7 days', the first of
// each of the last 4 ISO weeks, of the last 12 months and of the last 2
// years; no backup is ever forgotten before its rule's end, and each says
// which rule keeps it.
func TestCalendarRetentionOverSimulatedYears(t *testing.T) {
	p := cairnv1.ScheduleRetention{KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 2}
	type kept struct {
		at, until time.Time
		rule, why string
	}
	var alive []kept
	start := time.Date(2026, 3, 17, 0, 0, 0, 0, time.UTC) // a Tuesday
	rules := map[string]int{}
	for now := start; now.Before(start.AddDate(3, 0, 0)); now = now.AddDate(0, 0, 1) {
		// Forget what expired (the controller's expiry).
		var next []kept
		for _, k := range alive {
			if now.Before(k.until) {
				next = append(next, k)
			}
		}
		alive = next
		var others []time.Time
		for _, k := range alive {
			others = append(others, k.at)
		}
		keep, rule, why := gfsKeep(p, now, others, 0)
		rules[rule]++
		if !strings.Contains(why, "until "+now.Add(keep).Format(time.RFC3339)) {
			t.Fatalf("%s: %q does not say until when", now.Format(time.DateOnly), why)
		}
		alive = append(alive, kept{at: now, until: now.Add(keep), rule: rule, why: why})
		if now.Before(start.AddDate(1, 0, 0)) {
			continue
		}
		// The backups a calendar policy must have kept.
		want := map[time.Time]bool{}
		for d := 0; d < 7; d++ {
			want[now.AddDate(0, 0, -d)] = true
		}
		firstOf := func(key func(time.Time) string, n int) {
			seen := map[string]bool{}
			for d := now; len(seen) <= n && !d.Before(start); d = d.AddDate(0, 0, -1) {
				seen[key(d)] = true
				if len(seen) > n {
					break
				}
				if prev := d.AddDate(0, 0, -1); key(prev) != key(d) || prev.Before(start) {
					want[d] = true // the first day of its period
				}
			}
		}
		firstOf(func(x time.Time) string { y, w := x.ISOWeek(); return fmt.Sprint(y, w) }, 4)
		firstOf(func(x time.Time) string { return x.Format("2006-01") }, 12)
		firstOf(func(x time.Time) string { return x.Format("2006") }, 2)
		got := map[time.Time]bool{}
		for _, k := range alive {
			got[k.at] = true
		}
		for d := range want {
			if !got[d] {
				t.Fatalf("%s: the backup of %s is gone; alive: %s", now.Format(time.DateOnly), d.Format(time.DateOnly), dates(alive, func(k kept) time.Time { return k.at }))
			}
		}
		// Beyond them, only backups whose period has not quite ended
		// (a week's first backup lives 4 weeks from its own day).
		if len(alive) > len(want)+3 {
			t.Fatalf("%s: %d backups alive, want about %d: %s", now.Format(time.DateOnly), len(alive), len(want), dates(alive, func(k kept) time.Time { return k.at }))
		}
	}
	for _, r := range []string{ruleDaily, ruleWeekly, ruleMonthly, ruleYearly} {
		if rules[r] == 0 {
			t.Errorf("no backup was kept by the %s rule in three years: %v", r, rules)
		}
	}
	t.Logf("rules over three years of daily backups: %v; alive at the end: %d", rules, len(alive))
}

func dates[T any](s []T, at func(T) time.Time) string {
	var out []string
	for _, x := range s {
		out = append(out, at(x).Format("2006-01-02"))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// A second backup in a day is kept the floor (the minimum retention), and
// says so; the guardrails bound the rules.
func TestCalendarRetentionRules(t *testing.T) {
	p := cairnv1.ScheduleRetention{KeepDaily: 7}
	day := time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)
	if keep, rule, _ := gfsKeep(p, day, nil, 0); keep != 7*24*time.Hour || rule != ruleDaily {
		t.Errorf("first of the day: %s %s", keep, rule)
	}
	keep, rule, why := gfsKeep(p, day.Add(6*time.Hour), []time.Time{day}, 72*time.Hour)
	if keep != 72*time.Hour || rule != ruleNone || !strings.Contains(why, "no rule") {
		t.Errorf("second of the day: %s %s %q; want the floor, none", keep, rule, why)
	}
	for _, c := range []struct {
		g    Retention
		p    cairnv1.ScheduleRetention
		ttl  bool
		want string
	}{
		{Retention{}, p, true, "either"},
		{Retention{}, cairnv1.ScheduleRetention{}, false, "keeps nothing"},
		{Retention{Max: 90 * 24 * time.Hour}, cairnv1.ScheduleRetention{KeepDaily: 7, KeepMonthly: 12}, false, "keepMonthly=12"},
		{Retention{Min: 30 * 24 * time.Hour}, cairnv1.ScheduleRetention{KeepDaily: 7, KeepMonthly: 12}, false, "keepDaily=7"},
		{Retention{Min: 7 * 24 * time.Hour, Max: 400 * 24 * time.Hour}, cairnv1.ScheduleRetention{KeepDaily: 7, KeepMonthly: 12}, false, ""},
	} {
		err := c.g.gfsCheck(c.p, c.ttl)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("gfsCheck(%+v, %+v, ttl %v) = %v, want %q", c.g, c.p, c.ttl, err, c.want)
		}
	}
}
