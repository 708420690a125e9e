package controller_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

// TestRestoreDrill runs the controller process with a backup of an
// application namespace and a RestoreTest of it: the drill restores into
// "<ns>-drill-<id>" (created with the opt-out label), checks that every
// object of every type is back, records the measured time and passes, and
// deletes the scratch namespace; the source namespace is not touched (its
// objects' resourceVersions are unchanged), no cluster-scoped object is
// restored, a backup that includes the scratch namespace by name leaves
// it out, and the drill's metrics are exported. Then, with everything a
// running controller exports, every metric the chart's dashboard and
// alerts query exists.
func TestRestoreDrill(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	loc.Spec.Replicas = []cairnv1.ReplicaSpec{{Name: "offsite", Repository: filepath.Join(t.TempDir(), "offsite")}} // its metrics too
	if err := e.c.Update(e.ctx, &loc); err != nil {
		t.Fatal(err)
	}
	app := e.cfg.Namespace(t)
	for _, o := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: app}, Data: map[string]string{"mode": "prod"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "flags", Namespace: app}, Data: map[string]string{"beta": "off"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: app}, StringData: map[string]string{"t": "s3cr3t"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: app}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
	} {
		if err := e.c.Create(e.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	versions := func() map[string]string {
		out := map[string]string{}
		var cms corev1.ConfigMapList
		var ss corev1.SecretList
		if err := e.c.List(e.ctx, &cms, client.InNamespace(app)); err != nil {
			t.Fatal(err)
		}
		if err := e.c.List(e.ctx, &ss, client.InNamespace(app)); err != nil {
			t.Fatal(err)
		}
		for _, o := range cms.Items {
			out["cm/"+o.Name] = o.ResourceVersion
		}
		for _, o := range ss.Items {
			out["secret/"+o.Name] = o.ResourceVersion
		}
		return out
	}
	e.runController(controller.Options{Retention: noGuardrails, SyncInterval: time.Second, Recheck: time.Minute})
	wait := e.waitUntil
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app}}})
	var b cairnv1.Backup
	wait("the backup", time.Minute, func() bool { e.get("app", &b); return b.Status.Phase.Finished() })
	if b.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("backup: %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}
	before := versions()

	e.create(&cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "weekly", Namespace: e.ns}, Spec: cairnv1.RestoreTestSpec{BackupName: "app"}})
	var d cairnv1.RestoreTest
	var scratch string
	wait("the drill to start", time.Minute, func() bool {
		e.get("weekly", &d)
		if len(d.Status.Namespaces) == 1 {
			scratch = d.Status.Namespaces[0]
		}
		return d.Status.Phase != "" && d.Status.Phase != cairnv1.PhaseNew
	})
	wait("the drill to finish", 2*time.Minute, func() bool { e.get("weekly", &d); return d.Status.Phase.Finished() })
	if d.Status.Phase != cairnv1.PhaseCompleted || d.Status.Duration == nil || d.Status.LastSuccessfulRun == nil || len(d.Status.Checks) != 4 {
		t.Fatalf("drill: %s (%s), duration %v, checks %+v", d.Status.Phase, d.Status.FailureReason, d.Status.Duration, d.Status.Checks)
	}
	for _, c := range d.Status.Checks {
		if !c.Passed {
			t.Errorf("check %s failed: %s", c.Name, c.Message)
		}
		t.Logf("check %s: %s", c.Name, c.Message)
	}
	if scratch != app+"-drill-"+d.Status.RestoreName[len("weekly-"):] {
		t.Errorf("scratch namespace %q, want %s-drill-<id>", scratch, app)
	}
	var ns corev1.Namespace
	err := e.c.Get(e.ctx, client.ObjectKey{Name: scratch}, &ns)
	if err == nil && ns.DeletionTimestamp.IsZero() {
		t.Errorf("scratch namespace %s not deleted after the drill", scratch)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if err == nil && (ns.Labels["compliantkubernetes.io/nobackup"] == "" || ns.Labels[cairnv1.LabelDrill] != "weekly") {
		t.Errorf("scratch namespace labels %v: want the opt-out and the drill label", ns.Labels)
	}
	var rs cairnv1.Restore
	e.get(d.Status.RestoreName, &rs)
	if rs.Spec.IncludeClusterResources != "false" || rs.Spec.NamespaceMapping[app] != scratch {
		t.Errorf("the drill's restore: %+v", rs.Spec)
	}
	if after := versions(); len(after) != len(before) {
		t.Errorf("source namespace objects changed: %v → %v", before, after)
	} else {
		for k, v := range before {
			if after[k] != v {
				t.Errorf("source object %s changed (resourceVersion %s → %s)", k, v, after[k])
			}
		}
	}
	// The scratch namespace is not backed up, even when named.
	if err == nil {
		e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "with-scratch", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app, scratch}}})
		var w cairnv1.Backup
		wait("the backup naming the scratch namespace", time.Minute, func() bool { e.get("with-scratch", &w); return w.Status.Phase.Finished() })
		for _, n := range w.Status.Namespaces {
			if n == scratch {
				t.Errorf("a backup holds the drill's scratch namespace %s", scratch)
			}
		}
	}

	var m families
	wait("the drill metrics and the coverage pass", 30*time.Second, func() bool {
		m = gather(t)
		return m.value("cairn_drill_success", map[string]string{"drill": "weekly"}) == 1 &&
			m.value("cairn_namespace_last_backup_timestamp_seconds", map[string]string{"namespace": app}) > 0 &&
			m["cairn_location_last_successful_check_timestamp_seconds"] != nil && m["cairn_replica_last_success_timestamp_seconds"] != nil
	})
	if got := m.value("cairn_drill_duration_seconds", map[string]string{"drill": "weekly"}); got < 0 || got != d.Status.Duration.Seconds() {
		t.Errorf("cairn_drill_duration_seconds = %v, want %v", got, d.Status.Duration.Seconds())
	}
	chartQueries(t, m)
}

// A recurring drill (spec.schedule) runs at each due time, not between
// them, and records each run (here failing: its backup does not exist);
// a bad cron expression is refused.
func TestRecurringDrill(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.create(&cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: e.ns}, Spec: cairnv1.RestoreTestSpec{BackupName: "missing", Schedule: "0 * * * *"}})
	var d cairnv1.RestoreTest
	e.get("hourly", &d)
	created := d.CreationTimestamp.UTC()
	next := created.Truncate(time.Hour).Add(time.Hour)
	e.clock.Set(created)
	res := e.reconcile(e.rs.Drill, "hourly")
	e.get("hourly", &d)
	if d.Status.Phase != "" || d.Status.NextRun == nil || !d.Status.NextRun.Time.Equal(next) || res.RequeueAfter <= 0 {
		t.Fatalf("before the first run: %+v, requeue %s", d.Status, res.RequeueAfter)
	}
	for i, at := range []time.Time{next, next.Add(time.Hour)} {
		e.clock.Set(at.Add(time.Minute))
		e.reconcile(e.rs.Drill, "hourly")
		e.get("hourly", &d)
		if d.Status.Phase != cairnv1.PhaseFailed || d.Status.LastRun == nil || !d.Status.LastRun.Time.Equal(at) || !strings.Contains(d.Status.FailureReason, "missing") {
			t.Fatalf("run %d: %+v", i, d.Status)
		}
		// Not again before the next due time.
		e.clock.Set(at.Add(30 * time.Minute))
		e.reconcile(e.rs.Drill, "hourly")
		var again cairnv1.RestoreTest
		e.get("hourly", &again)
		if !again.Status.LastRun.Time.Equal(at) {
			t.Fatalf("ran again between due times: last run %v", again.Status.LastRun)
		}
	}
	e.create(&cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: e.ns}, Spec: cairnv1.RestoreTestSpec{BackupName: "x", Schedule: "every day"}})
	e.reconcile(e.rs.Drill, "bad")
	e.get("bad", &d)
	if d.Status.Phase != cairnv1.PhaseFailed || !strings.Contains(d.Status.FailureReason, "rejected") {
		t.Errorf("bad cron: %+v", d.Status)
	}
}
