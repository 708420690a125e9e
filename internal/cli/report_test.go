//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/daemon"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/report"
)

// cairn report against a real API server and backups made on chosen days:
// a namespace backed up on 3 of the 5 days it existed, one never backed
// up, one opted out; the findings name each gap and its control, the JSON
// has the schema, the HTML and Markdown files are written and hold the
// namespaces, and the HTML fetches nothing.
func TestReport(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Clientset(t)
	shop, blog := c.Namespace(t), c.Namespace(t)
	quiet := c.Namespace(t)
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, quiet, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels[report.DefaultOptOutLabel] = "true"
	if _, err := cs.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(shop).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	at := func(day int, hour int) time.Time {
		return today.Add(time.Duration(day)*24*time.Hour + time.Duration(hour)*time.Hour)
	}
	for _, day := range []int{1, 2, 4} {
		cairnAt(t, at(day, 10), e, "backup", "run", "daily-"+string(rune('0'+day)), "--ttl", "720h", "--include-namespaces", shop, "--no-progress").must(t, 0)
	}

	dir := t.TempDir()
	htmlFile, mdFile := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.md")
	res := cairnAt(t, at(4, 11), e, "report", "--since", "10d", "--max-retention", "14d", "-o", "json", "--html", htmlFile, "--markdown", mdFile).must(t, 0)
	var rep report.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report -o json: %v\n%s", err, res.stdout)
	}
	if rep.Schema != report.Schema || !rep.Repository.ClusterSource {
		t.Errorf("schema %q, cluster source %v", rep.Schema, rep.Repository.ClusterSource)
	}
	cov := map[string]report.Coverage{}
	for _, c := range rep.Coverage {
		cov[c.Namespace] = c
	}
	if s := cov[shop]; s.DaysExpected != 5 || s.DaysCovered != 3 || len(s.MissedDays) != 2 || s.RPOMet || s.LastBackupName != "daily-4" ||
		s.MissedDays[0] != today.Format(time.DateOnly) || s.MissedDays[1] != at(3, 0).Format(time.DateOnly) {
		t.Errorf("coverage of %s: %+v", shop, s)
	}
	if b := cov[blog]; b.LastBackup != nil || b.DaysCovered != 0 {
		t.Errorf("coverage of %s (never backed up): %+v", blog, b)
	}
	if q := cov[quiet]; !q.OptedOut {
		t.Errorf("coverage of %s (opted out): %+v", quiet, q)
	}
	for _, n := range []string{"kube-system", "kube-public"} {
		if _, ok := cov[n]; ok {
			t.Errorf("system namespace %s reported as a user namespace", n)
		}
	}
	findings := map[string]string{}
	for _, f := range rep.Findings {
		findings[f.Text] = f.Control
	}
	want := map[string]string{
		"namespace " + shop + ": no successful backup on 2 of 5 days":  report.ControlBackup,
		"namespace " + blog + ": never backed up":                      report.ControlBackup,
		"backup daily-1 is kept 720h0m0s, beyond the maximum 336h0m0s": report.ControlMaximum,
		"the repository has no object lock":                            report.ControlProtected,
		"no restore drill passed in the period":                        report.ControlTested,
	}
	for prefix, control := range want {
		found := false
		for text, c := range findings {
			if strings.HasPrefix(text, prefix) && c == control {
				found = true
			}
		}
		if !found {
			t.Errorf("no finding %q (%s) in %v", prefix, control, findings)
		}
	}
	for text := range findings {
		if strings.Contains(text, quiet) {
			t.Errorf("a finding about the opted-out namespace: %s", text)
		}
	}

	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{shop, blog, "never backed up", "Findings", `name="viewport"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(string(page), bad) {
			t.Errorf("HTML report is not self-contained: it has %q", bad)
		}
	}
	md, err := os.ReadFile(mdFile)
	if err != nil || !strings.Contains(string(md), "## Coverage") || !strings.Contains(string(md), shop) {
		t.Errorf("Markdown report: %v\n%s", err, md)
	}

	// The table, and bad input.
	res = cairnAt(t, at(4, 11), e, "report", "--since", "10d").must(t, 0)
	if !strings.Contains(res.stdout, shop) || !strings.Contains(res.stdout, "MISSED") || !strings.Contains(res.stdout, "findings:") {
		t.Errorf("report table:\n%s", res.stdout)
	}
	cairn(t, e, "report", "--since", "soon").must(t, 2)
	cairn(t, e, "report", "--html", filepath.Join(dir, "no", "such", "dir", "r.html")).must(t, 1)
}

// cairn ctl report opens the default BackupLocation's repository with the
// passphrase its Secret holds, and reports the cluster's restore drills:
// one that passed counts; the location's replica is compared with it; a
// location that is not there is bad input.
func TestCtlReport(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t)
	repoEnv := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	cairn(t, repoEnv, "backup", "run", "first", "--ttl", "720h", "--include-namespaces", ns, "--no-progress").must(t, 0)
	replica := filepath.Join(t.TempDir(), "offsite")
	cairn(t, repoEnv, "replicate", "--from", repoEnv["CAIRN_REPOSITORY"], "--to", replica).must(t, 0)
	scheme, err := daemon.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "repo-pass", Namespace: ns}, StringData: map[string]string{"passphrase": testPassphrase}},
		&cairnv1.BackupLocation{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns}, Spec: cairnv1.BackupLocationSpec{
			Repository: repoEnv["CAIRN_REPOSITORY"], Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "repo-pass"}, Key: "passphrase"},
			Replicas:   []cairnv1.ReplicaSpec{{Name: "offsite", Repository: replica}}}},
	} {
		if err := kc.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	d := &cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "weekly", Namespace: ns}, Spec: cairnv1.RestoreTestSpec{BackupName: "first"}}
	if err := kc.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	ended := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	d.Status = cairnv1.RestoreTestStatus{Phase: cairnv1.PhaseCompleted, BackupName: "first", CompletionTimestamp: &ended, LastSuccessfulRun: &ended, Duration: &metav1.Duration{Duration: 42 * time.Second}}
	if err := kc.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	e := env{"KUBECONFIG": c.Kubeconfig, "CAIRN_NAMESPACE": ns}
	res := cairn(t, e, "ctl", "report", "-o", "json").must(t, 0)
	var rep report.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("ctl report -o json: %v\n%s", err, res.stdout)
	}
	if len(rep.Backups) != 1 || rep.Backups[0].Name != "first" || rep.Tested.Drills != 1 || len(rep.Tested.Last) != 1 || rep.Tested.Last[0].Seconds != 42 {
		t.Errorf("ctl report: backups %+v, tested %+v", rep.Backups, rep.Tested)
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Text, "restore drill") || strings.Contains(f.Text, "replica") {
			t.Errorf("finding about drills although one passed, or about an up-to-date replica: %s", f.Text)
		}
	}
	if r := rep.Protection.Replicas; len(r) != 1 || r[0].Name != "offsite" || r[0].Snapshots != 1 || r[0].Missing != 0 {
		t.Errorf("the location's replica: %+v", r)
	}
	cairn(t, e, "ctl", "report", "--location", "nope").must(t, 2)
}

// cairn report --replica: a replica made after the first of two backups
// lacks the second, whose age is its lag (a finding past a day); a replica
// that does not exist is a finding with the reason.
func TestReportReplica(t *testing.T) {
	e := newRepo(t)
	src := sampleData(t)
	now := time.Now().UTC()
	cairnAt(t, now.Add(-72*time.Hour), e, "fs", "backup", src).must(t, 0)
	replica := filepath.Join(t.TempDir(), "replica")
	cairn(t, e, "replicate", "--from", e["CAIRN_REPOSITORY"], "--to", replica).must(t, 0)
	writeFile(t, filepath.Join(src, "new.txt"), "next day")
	cairnAt(t, now.Add(-48*time.Hour), e, "fs", "backup", src).must(t, 0)
	missing := filepath.Join(t.TempDir(), "none")
	res := cairnAt(t, now, e, "report", "--no-cluster", "--replica", replica, "--replica", missing, "-o", "json").must(t, 0)
	var rep report.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	if len(rep.Protection.Replicas) != 2 {
		t.Fatalf("replicas %+v", rep.Protection.Replicas)
	}
	r := rep.Protection.Replicas[0]
	if r.Snapshots != 1 || r.Missing != 1 || r.LagSeconds < 47*3600 || r.LagSeconds > 49*3600 {
		t.Errorf("replica: %+v, want 1 held, 1 missing, lag about 48 h", r)
	}
	var texts []string
	for _, f := range rep.Findings {
		texts = append(texts, f.Text)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "replica "+replica+" lacks 1") || !strings.Contains(all, "replica "+missing+" could not be read") {
		t.Errorf("findings:\n%s", all)
	}
}
