package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Prometheus metrics, served with controller-runtime's own on the
// manager's /metrics endpoint (--metrics-bind-address). Runs are labelled
// by the Schedule that created the Backup (label cairn.dev/schedule); a
// Backup without one has schedule="". A Restore carries the schedule of
// the Backup it restores.
//
// The chart's PrometheusRule alerts on
// time() - cairn_backup_last_successful_timestamp_seconds: keep the names.
var (
	backupMetrics  = newRunMetrics("backup", "backups", "objects in the last finished backup")
	restoreMetrics = newRunMetrics("restore", "restores", "objects created by the last finished restore")

	backupBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_backup_bytes",
		Help: "Bytes of resource data in the last finished backup, per schedule.",
	}, []string{"schedule"})

	locationAvailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_location_available",
		Help: "1 when the BackupLocation's repository opened at the last check, else 0.",
	}, []string{"location"})

	locationLocked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_location_object_lock",
		Help: "1 when the BackupLocation's repository locks every object it writes until its backup's expiry (S3 object lock), else 0.",
	}, []string{"location"})

	// The chart's PrometheusRule alerts on damage and on
	// time() - cairn_location_last_successful_check_timestamp_seconds.
	checkDamaged = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_location_check_damaged",
		Help: "1 when the last integrity check of the BackupLocation found damage, else 0.",
	}, []string{"location"})
	checkLast = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_location_last_check_timestamp_seconds",
		Help: "When the last integrity check of the BackupLocation started (whatever its result).",
	}, []string{"location"})
	// Per namespace (coverage.go); the chart alerts on
	// time() - cairn_namespace_last_backup_timestamp_seconds.
	namespaceLastBackup = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_namespace_last_backup_timestamp_seconds",
		Help: "Unix time at which the newest Completed or PartiallyFailed backup holding the namespace ended; for a namespace never backed up, its creation time.",
	}, []string{"namespace"})
	namespaceOptedOut = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_namespace_opted_out",
		Help: "1 when the namespace carries an opt-out label (not backed up), else 0.",
	}, []string{"namespace"})
	volumesMissed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_volumes_missed",
		Help: "Pod volumes of the namespace that its newest backup missed or failed.",
	}, []string{"namespace"})
	// Restore drills (drill.go); the chart alerts on
	// time() - cairn_drill_last_success_timestamp_seconds.
	drillLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_drill_last_success_timestamp_seconds",
		Help: "Unix time at which the last restore drill of the RestoreTest that passed every check ended.",
	}, []string{"drill"})
	drillDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_drill_duration_seconds",
		Help: "Measured recovery time of the RestoreTest's last successful drill: restore until objects, volumes and pods were back.",
	}, []string{"drill"})
	drillSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_drill_success",
		Help: "1 when the RestoreTest's last drill passed every check, else 0.",
	}, []string{"drill"})
	checkLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_location_last_successful_check_timestamp_seconds",
		Help: "When the last integrity check of the BackupLocation that found no problem started.",
	}, []string{"location"})
	replicaLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_replica_last_success_timestamp_seconds",
		Help: "When the last replication of the replica that completed started: what the location held then is on the replica (time() minus it is the replica's lag).",
	}, []string{"location", "replica"})
	replicaSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_replica_success",
		Help: "1 when the replica's last replication completed, else 0.",
	}, []string{"location", "replica"})
)

func init() {
	metrics.Registry.MustRegister(backupBytes, locationAvailable, locationLocked, checkDamaged, checkLast, checkLastSuccess,
		namespaceLastBackup, namespaceOptedOut, volumesMissed, drillLastSuccess, drillDuration, drillSuccess,
		replicaLastSuccess, replicaSuccess)
	backupMetrics.register(metrics.Registry)
	restoreMetrics.register(metrics.Registry)
}

// runMetrics is the family of a kind of run (backup or restore).
type runMetrics struct {
	attempts, success, partial, failure *prometheus.CounterVec
	duration                            *prometheus.HistogramVec
	items, lastSuccess                  *prometheus.GaugeVec
}

func newRunMetrics(kind, plural, itemsHelp string) *runMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_" + kind + "_" + name, Help: help}, []string{"schedule"})
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_" + kind + "_" + name, Help: help}, []string{"schedule"})
	}
	return &runMetrics{
		attempts: counter("attempts_total", "Finished "+plural+" (rejected ones included), per schedule."),
		success:  counter("success_total", "Completed "+plural+", per schedule."),
		partial:  counter("partial_failure_total", "PartiallyFailed "+plural+", per schedule."),
		failure:  counter("failure_total", "Failed "+plural+" (rejected ones included), per schedule."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_" + kind + "_duration_seconds",
			Help:    "Time from the start to the end of " + plural + " that ran, per schedule.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 15), // 1 s … 4.5 h
		}, []string{"schedule"}),
		items:       gauge("items", "Kubernetes "+itemsHelp+", per schedule."),
		lastSuccess: gauge("last_successful_timestamp_seconds", "Unix time at which the last Completed "+kind+" of the schedule ended."),
	}
}

func (m *runMetrics) register(r prometheus.Registerer) {
	r.MustRegister(m.attempts, m.success, m.partial, m.failure, m.duration, m.items, m.lastSuccess)
}

// observe records a run that ended in phase with the given times and
// items; it does nothing for a run that has not finished.
func (m *runMetrics) observe(schedule string, phase cairnv1.Phase, start, end *time.Time, items int) {
	if !phase.Finished() {
		return
	}
	m.attempts.WithLabelValues(schedule).Inc()
	// Every counter of the schedule has a series, 0 until it counts:
	// increase() and rate() of a series that appears only at its first
	// failure miss that failure.
	for _, c := range []*prometheus.CounterVec{m.success, m.partial, m.failure} {
		c.WithLabelValues(schedule).Add(0)
	}
	switch phase {
	case cairnv1.PhaseCompleted:
		m.success.WithLabelValues(schedule).Inc()
	case cairnv1.PhasePartiallyFailed:
		m.partial.WithLabelValues(schedule).Inc()
	default:
		m.failure.WithLabelValues(schedule).Inc()
	}
	if start == nil || end == nil { // rejected before it ran
		return
	}
	m.duration.WithLabelValues(schedule).Observe(end.Sub(*start).Seconds())
	m.items.WithLabelValues(schedule).Set(float64(items))
	if phase == cairnv1.PhaseCompleted {
		m.setLastSuccess(schedule, *end)
	}
}

// setLastSuccess moves the last-success time of schedule forward (never
// back: a slow backup that ends after a newer one does not hide it).
func (m *runMetrics) setLastSuccess(schedule string, t time.Time) {
	g := m.lastSuccess.WithLabelValues(schedule)
	if v := float64(t.Unix()); v > gaugeValue(g) {
		g.Set(v)
	}
}

// gaugeValue reads a gauge's current value.
func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil || m.Gauge == nil {
		return 0
	}
	return m.Gauge.GetValue()
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

// observeBackup records a Backup's run; size is its bytes (0: unknown).
func observeBackup(b *cairnv1.Backup, size int64) {
	schedule := b.Labels[cairnv1.LabelSchedule]
	backupMetrics.observe(schedule, b.Status.Phase, timeOf(b.Status.StartTimestamp), timeOf(b.Status.CompletionTimestamp), b.Status.Items)
	if b.Status.Phase.Finished() && b.Status.StartTimestamp != nil && size > 0 {
		backupBytes.WithLabelValues(schedule).Set(float64(size))
	}
}

// observeRestore records a Restore's run under the schedule of its
// backup.
func observeRestore(rs *cairnv1.Restore, schedule string) {
	restoreMetrics.observe(schedule, rs.Status.Phase, timeOf(rs.Status.StartTimestamp), timeOf(rs.Status.CompletionTimestamp), rs.Status.Created)
}

// observeSchedule carries a Schedule's last successful backup (read from
// the Backup objects) into the metrics, so that the time survives a
// restart of the controller.
func observeSchedule(s *cairnv1.Schedule) {
	if t := s.Status.LastSuccessfulBackup; t != nil {
		backupMetrics.setLastSuccess(s.Name, t.Time)
	}
}

// observeLocation records whether a location is available; a deleted
// location's series is removed.
func observeLocation(name string, available, deleted bool) {
	switch {
	case deleted:
		locationAvailable.DeleteLabelValues(name)
		locationLocked.DeleteLabelValues(name)
		checkDamaged.DeleteLabelValues(name)
		checkLast.DeleteLabelValues(name)
		checkLastSuccess.DeleteLabelValues(name)
	case available:
		locationAvailable.WithLabelValues(name).Set(1)
	default:
		locationAvailable.WithLabelValues(name).Set(0)
	}
}

// observeCheck carries a location's check results (from its status, so
// that they survive a restart of the controller) into the metrics.
func observeCheck(loc *cairnv1.BackupLocation) {
	if c := loc.Status.LastCheck; c != nil {
		checkLast.WithLabelValues(loc.Name).Set(float64(c.Time.Unix()))
		damaged := 0.0
		if c.Result == cairnv1.CheckDamaged {
			damaged = 1
		}
		checkDamaged.WithLabelValues(loc.Name).Set(damaged)
	}
	if t := loc.Status.LastSuccessfulCheckTime; t != nil {
		checkLastSuccess.WithLabelValues(loc.Name).Set(float64(t.Unix()))
	}
}

// observeReplicas records the last replication of each of loc's replicas
// (from its status).
func observeReplicas(loc *cairnv1.BackupLocation) {
	for _, st := range loc.Status.Replicas {
		if st.Result == "" {
			continue
		}
		ok := 0.0
		if st.Result == cairnv1.CheckOK {
			ok = 1
		}
		replicaSuccess.WithLabelValues(loc.Name, st.Name).Set(ok)
		if t := st.LastSuccessfulTime; t != nil {
			replicaLastSuccess.WithLabelValues(loc.Name, st.Name).Set(float64(t.Unix()))
		}
	}
}

// observeDrill records a RestoreTest's last drill (from its status).
func observeDrill(d *cairnv1.RestoreTest) {
	if !d.Status.Phase.Finished() {
		return
	}
	ok := 0.0
	if d.Status.Phase == cairnv1.PhaseCompleted {
		ok = 1
	}
	drillSuccess.WithLabelValues(d.Name).Set(ok)
	if t := d.Status.LastSuccessfulRun; t != nil {
		drillLastSuccess.WithLabelValues(d.Name).Set(float64(t.Unix()))
	}
	if d.Status.Duration != nil && ok == 1 {
		drillDuration.WithLabelValues(d.Name).Set(d.Status.Duration.Seconds())
	}
}

// observeLock records whether a location's repository locks what it writes.
func observeLock(name, mode string) {
	v := 0.0
	if mode != "" {
		v = 1
	}
	locationLocked.WithLabelValues(name).Set(v)
}
