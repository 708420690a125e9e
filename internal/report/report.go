package report

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// Schema names this version of the report's JSON form.
const Schema = "cairn.dev/report/v1"

// Controls the findings name.
const (
	ControlBackup    = "ISO 27001 A.8.13 / BSI APP.4.4.A5 / HIPAA 164.308(a)(7)(ii)(A)" // backups taken per policy
	ControlTested    = "ISO 27001 A.8.13 (backups tested)"
	ControlMinimum   = "HSLF-FS 2016:40 3 kap. 12-13 § (kept at least as long as decided)"
	ControlMaximum   = "GDPR Art. 5(1)(e), Art. 17 (kept no longer than decided)"
	ControlProtected = "ISO 27001 A.8.13 / BSI APP.4.4.A5 (backups protected from deletion)"
)

// DefaultOptOutLabel is the label that opts a namespace out of the daily
// backup when no backup's manifest names another.
const DefaultOptOutLabel = "compliantkubernetes.io/nobackup"

// Namespace is a namespace of the cluster now.
type Namespace struct {
	Name    string
	Labels  map[string]string
	Created time.Time
}

// Input is what Collect needs besides the repository.
type Input struct {
	Now   time.Time
	Since time.Duration // the period: [Now-Since, Now]
	// Namespaces of the cluster now; nil when no cluster was given (the
	// namespaces the period's backups hold are reported then).
	Namespaces []Namespace
	// Guardrails of retention (zero: none).
	MinRetention, MaxRetention time.Duration
	// Drills are the cluster's restore drills (RestoreTests), their last
	// run each; nil when no cluster was given.
	Drills []Drill
	// DrillsUnread says why the drills could not be read ("" if they were).
	DrillsUnread string
	// Replicas are copies of the repository to compare with it (cairn
	// replicate, or a BackupLocation's spec.replicas).
	Replicas []ReplicaInput
	// LastCheck is the last integrity check of the repository the
	// controller recorded (BackupLocation status.lastCheck); nil when
	// there is no record (standalone).
	LastCheck *Check
}

// ReplicaInput is one replica of the repository.
type ReplicaInput struct {
	Name string
	// Store is the replica's store; nil when it could not be opened, and
	// Error says why.
	Store store.Store
	Error string
	// LastSuccess is when its last complete replication started, as the
	// controller recorded it (nil standalone).
	LastSuccess *time.Time
}

// Check is an integrity check's outcome.
type Check struct {
	Time    time.Time `json:"time"`
	Result  string    `json:"result"` // OK, Damaged or Failed
	Message string    `json:"message,omitempty"`
}

// Replica is what a replica holds of the repository.
type Replica struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	// Snapshots counts the repository's snapshots the replica holds;
	// Missing those it lacks, the oldest of them taken at OldestMissing.
	Snapshots     int        `json:"snapshots"`
	Missing       int        `json:"missing"`
	OldestMissing *time.Time `json:"oldestMissing,omitempty"`
	// LagSeconds is the age of the oldest snapshot the replica lacks (0:
	// it holds them all): the off-site copy's recovery point.
	LagSeconds  float64    `json:"lagSeconds"`
	LastSuccess *time.Time `json:"lastReplication,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// MaxReplicaLag is how old the oldest snapshot a replica lacks may be
// before it is a finding.
const MaxReplicaLag = 24 * time.Hour

// Drill is the last run of one restore drill.
type Drill struct {
	Name   string     `json:"name"`
	Backup string     `json:"backup,omitempty"`
	Phase  string     `json:"phase"`
	Ended  *time.Time `json:"ended,omitempty"`
	// Seconds is the measured recovery time of its last successful run.
	Seconds     float64    `json:"recoverySeconds,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	Failure     string     `json:"failure,omitempty"`
}

// Report is the evidence.
type Report struct {
	Schema     string        `json:"schema"`
	Generated  time.Time     `json:"generated"`
	Period     Period        `json:"period"`
	Repository Repository    `json:"repository"`
	Coverage   []Coverage    `json:"coverage"`
	Retention  []Retention   `json:"retention"`
	Protection Protection    `json:"protection"`
	Tested     Tested        `json:"tested"`
	Findings   []Finding     `json:"findings"`
	Backups    []BackupEntry `json:"backups"`
}

// Period is the span the report covers, in whole UTC days.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days int       `json:"days"`
}

// Repository says which repository the report is of.
type Repository struct {
	Location      string `json:"location"`
	ID            string `json:"id"`
	ClusterSource bool   `json:"clusterNamespaces"` // namespaces came from the cluster, not only from backups
}

// Coverage is one namespace over the period.
type Coverage struct {
	Namespace      string     `json:"namespace"`
	OptedOut       bool       `json:"optedOut,omitempty"`
	LastBackup     *time.Time `json:"lastSuccessfulBackup,omitempty"`
	LastBackupName string     `json:"lastSuccessfulBackupName,omitempty"`
	DaysExpected   int        `json:"daysExpected"` // days of the period the namespace existed
	DaysCovered    int        `json:"daysCovered"`
	MissedDays     []string   `json:"missedDays,omitempty"` // YYYY-MM-DD
	Volumes        int        `json:"volumeSnapshots"`      // in the period
	RPOMet         bool       `json:"rpoMet"`               // covered on every expected day
}

// Retention is one schedule's (or the manual backups') retention.
type Retention struct {
	Schedule string     `json:"schedule"` // "" for backups made by hand
	TTLs     []string   `json:"ttls"`
	Backups  int        `json:"backups"`
	Oldest   *time.Time `json:"oldest,omitempty"`
	Newest   *time.Time `json:"newest,omitempty"`
}

// Protection is how the backups are kept safe.
type Protection struct {
	Cipher     string     `json:"cipher"`
	KDFs       []string   `json:"kdfs"` // one per key file
	Keys       int        `json:"keys"`
	LastKeyAdd *time.Time `json:"lastKeyAdded,omitempty"`
	ObjectLock string     `json:"objectLock"` // "", compliance or governance
	LockMargin string     `json:"lockMargin,omitempty"`
	// LockedBackups counts the backups whose snapshot object is retained
	// at least until their expiry (of Backups with an expiry).
	LockedBackups int `json:"lockedBackups"`
	Backups       int `json:"backupsWithExpiry"`
	// LastCheck is the last integrity check on record, if any.
	LastCheck *Check `json:"lastCheck,omitempty"`
	// Replicas compares each replica given with the repository.
	Replicas []Replica `json:"replicas,omitempty"`
}

// Tested is the evidence that backups restore.
type Tested struct {
	// Drills counts the drills that passed in the period.
	Drills int `json:"drills"`
	// Last are the cluster's drills, their last run each.
	Last []Drill `json:"last,omitempty"`
}

// Finding is one gap, with the control it touches.
type Finding struct {
	Control string `json:"control"`
	Text    string `json:"text"`
}

// BackupEntry is one cluster backup of the period.
type BackupEntry struct {
	Name     string     `json:"name"`
	Schedule string     `json:"schedule,omitempty"`
	Phase    string     `json:"phase"`
	Start    time.Time  `json:"start"`
	Expires  *time.Time `json:"expires,omitempty"`
	Items    int        `json:"items"`
	Errors   int        `json:"errors"`
}

type clusterBackup struct {
	sn *snapshot.Snapshot
	m  *layout.Manifest
}

// Collect gathers the report.
func Collect(ctx context.Context, r *repo.Repository, in Input) (*Report, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.Since <= 0 {
		in.Since = 30 * 24 * time.Hour
	}
	to := in.Now.UTC()
	from := to.Add(-in.Since).Truncate(24 * time.Hour)
	days := int(to.Sub(from).Hours()/24) + 1
	rep := &Report{
		Schema: Schema, Generated: to,
		Period:     Period{From: from, To: to, Days: days},
		Repository: Repository{Location: r.Location(), ID: r.Config().ID, ClusterSource: in.Namespaces != nil},
		Coverage:   []Coverage{}, Retention: []Retention{}, Findings: []Finding{}, Backups: []BackupEntry{},
	}
	sns, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var all []clusterBackup
	volumes := map[string]int{} // namespace -> volume snapshots in the period
	for _, sn := range sns {
		switch sn.Labels[layout.LabelKind] {
		case layout.KindCluster:
			m, err := backup.LoadManifest(ctx, r, sn)
			if err != nil {
				rep.find(ControlBackup, fmt.Sprintf("backup %s (%s): manifest unreadable: %v", backup.Name(sn), sn.ShortID(), err))
				continue
			}
			all = append(all, clusterBackup{sn, m})
		case podvolume.KindPodVolume:
			if !sn.Time.Before(from) {
				volumes[sn.Labels[podvolume.LabelNamespace]]++
			}
		}
	}
	rep.coverage(all, volumes, in, from)
	rep.retention(all, in)
	if err := rep.protection(ctx, r, all); err != nil {
		return nil, err
	}
	rep.lastCheck(in.LastCheck)
	if err := rep.replicas(ctx, sns, in); err != nil {
		return nil, err
	}
	rep.tested(in, from)
	for _, b := range all {
		if b.sn.Time.Before(from) {
			continue
		}
		rep.Backups = append(rep.Backups, BackupEntry{
			Name: backup.Name(b.sn), Schedule: b.sn.Labels[layout.LabelSchedule], Phase: b.m.Phase,
			Start: b.m.Start, Expires: b.m.Expires, Items: b.m.Items, Errors: len(b.m.Errors),
		})
	}
	return rep, nil
}

// tested reports the restore drills: those that passed in the period,
// and as findings none at all, a last run that failed, or no success in
// the period.
func (rep *Report) tested(in Input, from time.Time) {
	rep.Tested.Last = in.Drills
	for _, d := range in.Drills {
		passed := d.LastSuccess != nil && !d.LastSuccess.Before(from)
		if passed {
			rep.Tested.Drills++
		}
		switch {
		case d.Phase == "Failed":
			rep.find(ControlTested, fmt.Sprintf("restore drill %s: its last run failed: %s", d.Name, d.Failure))
		case !passed:
			rep.find(ControlTested, fmt.Sprintf("restore drill %s: no successful run in the period", d.Name))
		}
	}
	switch {
	case in.DrillsUnread != "":
		rep.find(ControlTested, "restore drills could not be read: "+in.DrillsUnread)
	case rep.Tested.Drills == 0:
		rep.find(ControlTested, "no restore drill passed in the period: nothing shows that these backups restore (`cairn ctl drill create NAME --from-schedule S --schedule @weekly`)")
	}
}

func (rep *Report) find(control, text string) {
	rep.Findings = append(rep.Findings, Finding{Control: control, Text: text})
}

func succeeded(m *layout.Manifest) bool {
	return m.Phase == layout.PhaseCompleted || m.Phase == layout.PhasePartiallyFailed
}

// systemNamespace: not a user namespace (the cluster's own: kube-system,
// kube-public, kube-node-lease).
func systemNamespace(ns string) bool {
	return strings.HasPrefix(ns, "kube-")
}

func (rep *Report) coverage(all []clusterBackup, volumes map[string]int, in Input, from time.Time) {
	optOut := DefaultOptOutLabel
	for _, b := range all {
		if l := b.m.Selection.OptOutLabel; l != "" {
			optOut = l
		}
	}
	type nsInfo struct {
		created  time.Time
		optedOut bool
	}
	spaces := map[string]nsInfo{}
	if in.Namespaces != nil {
		for _, n := range in.Namespaces {
			if systemNamespace(n.Name) {
				continue
			}
			_, out := n.Labels[optOut]
			spaces[n.Name] = nsInfo{created: n.Created, optedOut: out}
		}
	} else {
		for _, b := range all {
			if b.sn.Time.Before(from) {
				continue
			}
			for ns := range b.m.CountsByNamespace {
				if ns != "" && !systemNamespace(ns) {
					spaces[ns] = nsInfo{}
				}
			}
		}
	}
	names := make([]string, 0, len(spaces))
	for ns := range spaces {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		info := spaces[ns]
		c := Coverage{Namespace: ns, OptedOut: info.optedOut, Volumes: volumes[ns]}
		covered := map[string]bool{}
		for _, b := range all {
			if _, ok := b.m.CountsByNamespace[ns]; !ok || !succeeded(b.m) {
				continue
			}
			t := b.m.Start.UTC()
			if c.LastBackup == nil || t.After(*c.LastBackup) {
				c.LastBackup, c.LastBackupName = &t, backup.Name(b.sn)
			}
			covered[t.Format(time.DateOnly)] = true
		}
		for d := from; !d.After(rep.Period.To); d = d.Add(24 * time.Hour) {
			if !info.created.IsZero() && info.created.UTC().Truncate(24*time.Hour).After(d) {
				continue // not there yet
			}
			c.DaysExpected++
			day := d.Format(time.DateOnly)
			// Today counts only once covered: the day's backup may be ahead.
			if covered[day] {
				c.DaysCovered++
			} else if day != rep.Period.To.Format(time.DateOnly) {
				c.MissedDays = append(c.MissedDays, day)
			} else {
				c.DaysExpected--
			}
		}
		c.RPOMet = len(c.MissedDays) == 0 && c.DaysExpected > 0
		rep.Coverage = append(rep.Coverage, c)
		switch {
		case c.OptedOut:
		case c.LastBackup == nil:
			since := ""
			if !info.created.IsZero() {
				since = " (it exists since " + info.created.UTC().Format(time.DateOnly) + ")"
			}
			rep.find(ControlBackup, fmt.Sprintf("namespace %s: never backed up%s", ns, since))
		case len(c.MissedDays) > 0:
			rep.find(ControlBackup, fmt.Sprintf("namespace %s: no successful backup on %d of %d days (%s)", ns, len(c.MissedDays), c.DaysExpected, summarizeDays(c.MissedDays)))
		}
	}
}

func summarizeDays(days []string) string {
	if len(days) <= 5 {
		return strings.Join(days, ", ")
	}
	return strings.Join(days[:3], ", ") + ", …, " + days[len(days)-1]
}

func (rep *Report) retention(all []clusterBackup, in Input) {
	by := map[string]*Retention{}
	for _, b := range all {
		s := b.sn.Labels[layout.LabelSchedule]
		rt := by[s]
		if rt == nil {
			rt = &Retention{Schedule: s, TTLs: []string{}}
			by[s] = rt
		}
		rt.Backups++
		t := b.m.Start.UTC()
		if rt.Oldest == nil || t.Before(*rt.Oldest) {
			rt.Oldest = &t
		}
		if rt.Newest == nil || t.After(*rt.Newest) {
			rt.Newest = &t
		}
		ttl := "none"
		if b.m.Expires != nil {
			ttl = b.m.Expires.Sub(b.m.Start).Round(time.Hour).String()
		}
		if !slices.Contains(rt.TTLs, ttl) {
			rt.TTLs = append(rt.TTLs, ttl)
		}
		kept := time.Duration(0)
		if b.m.Expires != nil {
			kept = b.m.Expires.Sub(b.m.Start)
		}
		name := backup.Name(b.sn)
		switch {
		case in.MaxRetention > 0 && (b.m.Expires == nil || kept > in.MaxRetention+time.Minute):
			rep.find(ControlMaximum, fmt.Sprintf("backup %s is kept %s, beyond the maximum %s", name, keptText(b.m), in.MaxRetention))
		case in.MinRetention > 0 && b.m.Expires != nil && kept < in.MinRetention-time.Minute:
			rep.find(ControlMinimum, fmt.Sprintf("backup %s expires after %s, before the minimum %s", name, keptText(b.m), in.MinRetention))
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rep.Retention = append(rep.Retention, *by[k])
	}
}

func keptText(m *layout.Manifest) string {
	if m.Expires == nil {
		return "forever"
	}
	return m.Expires.Sub(m.Start).Round(time.Hour).String()
}

func (rep *Report) protection(ctx context.Context, r *repo.Repository, all []clusterBackup) error {
	cfg := r.Config()
	p := &rep.Protection
	p.Cipher = "AES-256-GCM"
	p.ObjectLock, p.LockMargin = cfg.ObjectLock, cfg.LockMargin
	keys, err := r.Keys(ctx)
	if err != nil {
		return fmt.Errorf("report: keys: %w", err)
	}
	p.Keys = len(keys)
	p.KDFs = []string{}
	for _, k := range keys {
		p.KDFs = append(p.KDFs, k.KDF)
		if t := k.Created.UTC(); p.LastKeyAdd == nil || t.After(*p.LastKeyAdd) {
			p.LastKeyAdd = &t
		}
	}
	ret, canLock := r.Store().(store.Retainer)
	for _, b := range all {
		if b.m.Expires == nil {
			continue
		}
		p.Backups++
		if !canLock || cfg.ObjectLock == "" {
			continue
		}
		until, err := ret.Retention(ctx, repo.KindSnapshot.Key(b.sn.ID))
		if err == nil && !until.Before(*b.m.Expires) {
			p.LockedBackups++
		} else {
			rep.find(ControlProtected, fmt.Sprintf("backup %s: its objects are not locked until its expiry %s", backup.Name(b.sn), b.m.Expires.UTC().Format(time.DateOnly)))
		}
	}
	if cfg.ObjectLock == "" {
		rep.find(ControlProtected, "the repository has no object lock: whoever holds the bucket's credentials can delete every backup (use a bucket with object lock and `cairn repo init --object-lock`)")
	}
	return nil
}

// lastCheck reports the last integrity check on record: damage or a
// check that could not run is a finding.
func (rep *Report) lastCheck(c *Check) {
	rep.Protection.LastCheck = c
	if c != nil && c.Result != "OK" {
		rep.find(ControlProtected, fmt.Sprintf("the last integrity check (%s) found: %s %s", c.Time.UTC().Format(time.DateOnly), c.Result, c.Message))
	}
}

// replicas compares each replica with the repository's snapshots sns: a
// replica that cannot be read, or that lacks a snapshot older than
// MaxReplicaLag, is a finding.
func (rep *Report) replicas(ctx context.Context, sns []*snapshot.Snapshot, in Input) error {
	for _, ri := range in.Replicas {
		out := Replica{Name: ri.Name, LastSuccess: ri.LastSuccess, Error: ri.Error}
		if ri.Store != nil {
			out.Location = ri.Store.Location()
			have := map[string]bool{}
			err := ri.Store.List(ctx, repo.KindSnapshot.Prefix(), func(fi store.Info) error {
				if kind, id, err := repo.ParseKey(fi.Key); err == nil && kind == repo.KindSnapshot {
					have[id] = true
				}
				return nil
			})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				out.Error = err.Error()
			} else {
				for _, sn := range sns {
					if have[sn.ID] {
						out.Snapshots++
						continue
					}
					out.Missing++
					if t := sn.Time.UTC(); out.OldestMissing == nil || t.Before(*out.OldestMissing) {
						out.OldestMissing = &t
					}
				}
			}
		}
		if out.OldestMissing != nil {
			out.LagSeconds = max(0, in.Now.Sub(*out.OldestMissing).Round(time.Second).Seconds())
		}
		switch {
		case out.Error != "":
			rep.find(ControlProtected, fmt.Sprintf("replica %s could not be read: %s", out.Name, out.Error))
		case out.OldestMissing != nil && time.Duration(out.LagSeconds)*time.Second > MaxReplicaLag:
			rep.find(ControlProtected, fmt.Sprintf("replica %s lacks %d of the repository's snapshots, the oldest taken %s (%s ago): they are not off-site",
				out.Name, out.Missing, out.OldestMissing.Format(time.DateOnly), (time.Duration(out.LagSeconds)*time.Second).String()))
		}
		rep.Protection.Replicas = append(rep.Protection.Replicas, out)
	}
	return nil
}
