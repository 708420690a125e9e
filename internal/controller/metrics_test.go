package controller_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

// A backup of a schedule, a rejected one and a restore from the schedule
// run for real; the registry the manager serves on /metrics then holds
// their counts, items, bytes and last success, and the location is
// available. Names are the test's namespace, so that other tests' runs do
// not count.
func TestMetrics(t *testing.T) {
	e := newEnv(t, controller.Retention{Max: 720 * time.Hour, Default: 720 * time.Hour})
	sched, loc := e.ns, e.ns
	e.location(loc, "")
	e.reconcile(e.rs.Location, loc)
	e.configMap("app-config")

	labels := map[string]string{cairnv1.LabelSchedule: sched}
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: e.ns, Labels: labels},
		Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	e.reconcile(e.rs.Backup, "ok")
	var b cairnv1.Backup
	e.get("ok", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("backup: phase %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "too-long", Namespace: e.ns, Labels: labels},
		Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(2000 * time.Hour)}})
	e.reconcile(e.rs.Backup, "too-long")
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: e.ns},
		Spec: cairnv1.RestoreSpec{ScheduleName: sched, IncludedResources: []string{"configmaps"}}})
	e.reconcile(e.rs.Restore, "r")
	var rs cairnv1.Restore
	e.get("r", &rs)
	if rs.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("restore: phase %s (%s)", rs.Status.Phase, rs.Status.FailureReason)
	}

	m := gather(t)
	s := map[string]string{"schedule": sched}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cairn_backup_attempts_total", s, 2},
		{"cairn_backup_success_total", s, 1},
		{"cairn_backup_failure_total", s, 1},
		{"cairn_backup_items", s, float64(b.Status.Items)},
		{"cairn_backup_last_successful_timestamp_seconds", s, float64(b.Status.CompletionTimestamp.Unix())},
		{"cairn_restore_attempts_total", s, 1},
		{"cairn_restore_success_total", s, 1},
		{"cairn_restore_failure_total", s, 0}, // no failed restore: a series at 0
		{"cairn_restore_last_successful_timestamp_seconds", s, float64(rs.Status.CompletionTimestamp.Unix())},
		{"cairn_location_available", map[string]string{"location": loc}, 1},
		{"cairn_location_object_lock", map[string]string{"location": loc}, 0}, // a local repository, no lock
	} {
		if got := m.value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := m.value("cairn_backup_bytes", s); got <= 0 {
		t.Errorf("cairn_backup_bytes = %v, want the backup's size", got)
	}
	if got := m.value("cairn_backup_duration_seconds", s); got != 1 {
		t.Errorf("cairn_backup_duration_seconds has %v observations, want 1 (the rejected backup did not run)", got)
	}

	// A location whose repository does not open reads 0.
	var l cairnv1.BackupLocation
	e.get(loc, &l)
	l.Spec.Repository = t.TempDir() + "/none"
	if err := e.c.Update(e.ctx, &l); err != nil {
		t.Fatal(err)
	}
	e.reconcile(e.rs.Location, loc)
	if got := gather(t).value("cairn_location_available", map[string]string{"location": loc}); got != 0 {
		t.Errorf("cairn_location_available of a broken location = %v, want 0", got)
	}
}

// families is a snapshot of the controller-runtime metrics registry.
type families map[string]*dto.MetricFamily

func gather(t *testing.T) families {
	t.Helper()
	fs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := families{}
	for _, f := range fs {
		out[f.GetName()] = f
	}
	return out
}

// value returns the value of the series of name with exactly labels: a
// counter's or gauge's value, a histogram's sample count; -1 when there is
// no such series.
func (fs families) value(name string, labels map[string]string) float64 {
	f := fs[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// Coverage per namespace: a namespace backed up reads the backup's end,
// one never backed up its creation time, one opted out reads 1 in
// cairn_namespace_opted_out; the controller's own namespace is not a user
// namespace.
func TestCoverageMetrics(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	app, fresh, out := e.cfg.Namespace(t), e.cfg.Namespace(t), e.cfg.Namespace(t)
	if err := e.c.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: app}, Data: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	var ns corev1.Namespace
	if err := e.c.Get(e.ctx, client.ObjectKey{Name: out}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["compliantkubernetes.io/nobackup"] = "true"
	if err := e.c.Update(e.ctx, &ns); err != nil {
		t.Fatal(err)
	}
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app, out}}})
	e.reconcile(e.rs.Backup, "apps")
	var b cairnv1.Backup
	e.get("apps", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted || !slices.Contains(b.Status.Namespaces, app) || slices.Contains(b.Status.Namespaces, out) {
		t.Fatalf("backup: %s (%s), namespaces %v; want Completed with %s, without the opted-out %s", b.Status.Phase, b.Status.FailureReason, b.Status.Namespaces, app, out)
	}
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "again", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{BackupName: "apps"}})
	e.reconcile(e.rs.Restore, "again")
	e.reconcile(e.rs.Location, "main")
	if err := e.rs.ObserveCoverage(e.ctx); err != nil {
		t.Fatal(err)
	}
	m := gather(t)
	var freshNS corev1.Namespace
	if err := e.c.Get(e.ctx, client.ObjectKey{Name: fresh}, &freshNS); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ns string
		want     float64
	}{
		{"cairn_namespace_last_backup_timestamp_seconds", app, float64(b.Status.CompletionTimestamp.Unix())},
		{"cairn_namespace_last_backup_timestamp_seconds", fresh, float64(freshNS.CreationTimestamp.Unix())},
		{"cairn_namespace_opted_out", app, 0},
		{"cairn_namespace_opted_out", out, 1},
		{"cairn_volumes_missed", app, 0},
		{"cairn_namespace_opted_out", e.ns, -1}, // the controller's namespace: a platform namespace
	} {
		if got := m.value(c.name, map[string]string{"namespace": c.ns}); got != c.want {
			t.Errorf("%s{namespace=%s} = %v, want %v", c.name, c.ns, got, c.want)
		}
	}

}

// chartQueries checks that every cairn_ metric the chart's dashboard and
// alerts query is among the families of m.
func chartQueries(t *testing.T, m families) {
	t.Helper()
	chart := filepath.Join("..", "..", "deploy", "helm", "cairn")
	var queries []string
	dash, err := os.ReadFile(filepath.Join(chart, "dashboards", "cairn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queries = append(queries, tg.Expr)
		}
	}
	rules, err := os.ReadFile(filepath.Join(chart, "templates", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(rules), "\n") {
		if _, expr, ok := strings.Cut(l, "expr:"); ok {
			queries = append(queries, expr)
		}
	}
	name := regexp.MustCompile(`\bcairn_[a-z_]+\b`)
	asked := map[string]bool{}
	for _, q := range queries {
		for _, n := range name.FindAllString(q, -1) {
			asked[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	if len(asked) < 10 {
		t.Fatalf("the chart queries %d cairn metrics (%v): the test reads the wrong files", len(asked), asked)
	}
	for n := range asked {
		if m[n] == nil {
			t.Errorf("the chart queries %s, which the controller does not export", n)
		}
	}
}
