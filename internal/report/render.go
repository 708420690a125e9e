package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlTemplate string

// dateOf shows t, or a dash.
func dateOf(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

var funcs = template.FuncMap{
	"date":    dateOf,
	"day":     func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"join":    strings.Join,
	"replica": ReplicaLine,
	"pct": func(a, b int) string {
		if b == 0 {
			return "—"
		}
		return fmt.Sprintf("%d %%", a*100/b)
	},
}

var page = template.Must(template.New("report").Funcs(funcs).Parse(htmlTemplate))

// HTML writes the report as one self-contained page (inline style, no
// scripts, nothing fetched), readable on a phone.
func HTML(w io.Writer, rep *Report) error {
	return page.Execute(w, rep)
}

// Markdown writes the report as Markdown.
func Markdown(w io.Writer, rep *Report) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	d := func(t *time.Time) string { return funcs["date"].(func(*time.Time) string)(t) }
	p("# Backup evidence report\n\n")
	p("Repository `%s` (id %s), period %s to %s (%d days), generated %s.\n\n",
		rep.Repository.Location, rep.Repository.ID, rep.Period.From.Format(time.DateOnly), rep.Period.To.Format(time.DateOnly), rep.Period.Days, rep.Generated.Format(time.RFC3339))
	p("## Findings\n\n")
	if len(rep.Findings) == 0 {
		p("None.\n\n")
	}
	for _, f := range rep.Findings {
		p("- %s — *%s*\n", f.Text, f.Control)
	}
	p("\n## Coverage\n\n| namespace | last successful backup | days covered | missed | volume snapshots | RPO |\n|---|---|---|---|---|---|\n")
	for _, c := range rep.Coverage {
		rpo := "met"
		switch {
		case c.OptedOut:
			rpo = "opted out"
		case !c.RPOMet:
			rpo = "missed"
		}
		p("| %s | %s | %d of %d | %s | %d | %s |\n", c.Namespace, d(c.LastBackup), c.DaysCovered, c.DaysExpected, strings.Join(c.MissedDays, ", "), c.Volumes, rpo)
	}
	p("\n## Retention\n\n| schedule | ttl | backups | oldest | newest |\n|---|---|---|---|---|\n")
	for _, rt := range rep.Retention {
		s := rt.Schedule
		if s == "" {
			s = "(by hand)"
		}
		p("| %s | %s | %d | %s | %s |\n", s, strings.Join(rt.TTLs, ", "), rt.Backups, d(rt.Oldest), d(rt.Newest))
	}
	pr := rep.Protection
	lock := pr.ObjectLock
	if lock == "" {
		lock = "none"
	}
	p("\n## Protection\n\n- Encryption: %s; key derivation: %s; %d key(s), last added %s\n- Object lock: %s; backups locked until their expiry: %d of %d\n",
		pr.Cipher, strings.Join(pr.KDFs, "; "), pr.Keys, d(pr.LastKeyAdd), lock, pr.LockedBackups, pr.Backups)
	if c := pr.LastCheck; c != nil {
		p("- Last integrity check: %s, %s %s\n", c.Time.UTC().Format(time.DateOnly), c.Result, c.Message)
	}
	for _, r := range pr.Replicas {
		p("- %s\n", ReplicaLine(r))
	}
	p("\n## Tested\n\n- Restore drills passed in the period: %d\n", rep.Tested.Drills)
	for _, d := range rep.Tested.Last {
		p("- Drill %s: %s, backup %s, measured recovery time %.0f s, last success %s\n", d.Name, d.Phase, d.Backup, d.Seconds, dateOf(d.LastSuccess))
	}
	return nil
}

// ReplicaLine says in one line what a replica holds of the repository.
func ReplicaLine(r Replica) string {
	where := r.Name
	if r.Location != "" {
		where += " (" + r.Location + ")"
	}
	if r.Error != "" {
		return "Replica " + where + ": unreadable: " + r.Error
	}
	s := fmt.Sprintf("Replica %s: %d snapshots, %d missing", where, r.Snapshots, r.Missing)
	if r.OldestMissing != nil {
		s += fmt.Sprintf(", the oldest taken %s (lag %s)", r.OldestMissing.Format(time.DateOnly), (time.Duration(r.LagSeconds) * time.Second).String())
	}
	if r.LastSuccess != nil {
		s += ", last replication " + r.LastSuccess.UTC().Format("2006-01-02 15:04")
	}
	return s
}
