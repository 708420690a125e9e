//go:build !fsonly

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/cli/ctlcmd"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestCtl drives `cairn ctl` against a real API server with the CRDs of
// the chart. The controller's part is played by the test: it sets the
// status the controller would, so that --wait's exit codes (0, 3, 1) and
// messages are checked for each outcome.
func TestCtl(t *testing.T) {
	kc := kubetest.Start(t)
	crds, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("loading the CRDs: %d loaded, want %d (%v), %v", len(crds), len(cairnv1.Kinds), cairnv1.Kinds, err)
	}
	ns := kc.Namespace(t)
	e := env{"KUBECONFIG": kc.Kubeconfig, "CAIRN_NAMESPACE": ns}
	scheme := runtime.NewScheme()
	if err := cairnv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(kc.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// waiting runs a command line whose --wait looks every 50ms.
	waiting := func(args ...string) result {
		var out, errb bytes.Buffer
		a := &core.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Env: func(k string) string { return e[k] }, Now: time.Now, WaitPoll: 50 * time.Millisecond}
		return result{code: run(ctx, a, args), stdout: out.String(), stderr: errb.String()}
	}

	// finish plays the controller: once obj exists, set its status.
	finish := func(obj client.Object, set func()) chan error {
		done := make(chan error, 1)
		go func() {
			for ctx.Err() == nil {
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: obj.GetName()}, obj); err == nil {
					set()
					done <- c.Status().Update(ctx, obj)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			done <- ctx.Err()
		}()
		return done
	}

	for _, tc := range []struct {
		name   string
		phase  cairnv1.Phase
		reason string
		code   int
	}{
		{"b-ok", cairnv1.PhaseCompleted, "", 0},
		{"b-partial", cairnv1.PhasePartiallyFailed, "forbidden: cannot list secrets in namespace shop", 3},
		{"b-failed", cairnv1.PhaseFailed, "BackupLocation main is ReadOnly", 1},
	} {
		b := &cairnv1.Backup{}
		b.Name = tc.name
		done := finish(b, func() { b.Status.Phase, b.Status.FailureReason, b.Status.Items = tc.phase, tc.reason, 7 })
		r := waiting("ctl", "backup", "create", tc.name, "--include-namespaces", "shop", "--ttl", "30d", "--wait").must(t, tc.code)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if tc.reason != "" && !strings.Contains(r.stderr, tc.reason) {
			t.Errorf("%s: stderr does not give the reason %q:\n%s", tc.name, tc.reason, r.stderr)
		}
		if tc.code == 0 && !strings.Contains(r.stdout, "completed: 7 objects") {
			t.Errorf("%s: stdout:\n%s", tc.name, r.stdout)
		}
	}
	var b cairnv1.Backup
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b-ok"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.TTL.Duration != 720*time.Hour || b.Spec.IncludedNamespaces[0] != "shop" || b.Spec.DefaultVolumesToBackup != nil {
		t.Errorf("backup spec from the flags: %+v", b.Spec)
	}
	// Opt-in volume selection (Velero's flag): only the volumes pods name.
	cairn(t, e, "ctl", "backup", "create", "b-optin", "--default-volumes-to-fs-backup=false").must(t, 0)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b-optin"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.DefaultVolumesToBackup == nil || *b.Spec.DefaultVolumesToBackup {
		t.Errorf("--default-volumes-to-fs-backup=false gave defaultVolumesToBackup %v", b.Spec.DefaultVolumesToBackup)
	}
	if err := c.Delete(ctx, &b); err != nil {
		t.Fatal(err)
	}

	var rows []ctlcmd.BackupRow
	r := cairn(t, e, "ctl", "backup", "get", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("backup get -o json: %v\n%s", err, r.stdout)
	}
	r = cairn(t, e, "ctl", "backup", "describe", "b-partial").must(t, 0)
	if !strings.Contains(r.stdout, "PartiallyFailed") || !strings.Contains(r.stdout, "cannot list secrets") {
		t.Errorf("describe:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "backup", "describe", "nope").must(t, 2)

	// Restores: --from-schedule with --wait, each outcome.
	for _, tc := range []struct {
		phase cairnv1.Phase
		code  int
	}{{cairnv1.PhaseCompleted, 0}, {cairnv1.PhasePartiallyFailed, 3}, {cairnv1.PhaseFailed, 1}} {
		name := "r-" + strings.ToLower(string(tc.phase))
		rs := &cairnv1.Restore{}
		rs.Name = name
		done := finish(rs, func() {
			rs.Status.Phase, rs.Status.BackupName, rs.Status.Created = tc.phase, "daily-backup-20250101000000", 3
			if tc.phase != cairnv1.PhaseCompleted {
				rs.Status.FailureReason = "2 objects could not be restored: ConfigMap shop/x: admission denied"
			}
		})
		r := waiting("ctl", "restore", "create", name, "--from-schedule", "daily-backup", "-w").must(t, tc.code)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.stdout, "of backup daily-backup-20250101000000: 3 created") {
			t.Errorf("%s: stdout:\n%s", name, r.stdout)
		}
		if tc.code != 0 && !strings.Contains(r.stderr, "admission denied") {
			t.Errorf("%s: stderr without the reason:\n%s", name, r.stderr)
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs); err != nil || rs.Spec.ScheduleName != "daily-backup" {
			t.Errorf("%s: spec %+v, %v", name, rs.Spec, err)
		}
	}
	cairn(t, e, "ctl", "restore", "create", "--from-backup", "a", "--from-schedule", "b").must(t, 2)
	cairn(t, e, "ctl", "restore", "get").must(t, 0)

	// Schedules.
	cairn(t, e, "ctl", "schedule", "create", "daily-backup", "--schedule", "0 0 * * *", "--ttl", "720h").must(t, 0)
	cairn(t, e, "ctl", "schedule", "create", "nocron").must(t, 2)
	cairn(t, e, "ctl", "schedule", "create", "gfs", "--schedule", "@daily", "--keep-daily", "7", "--keep-monthly", "12").must(t, 0)
	cairn(t, e, "ctl", "schedule", "create", "both", "--schedule", "@daily", "--keep-daily", "7", "--ttl", "72h").must(t, 2)
	var gfs cairnv1.Schedule
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gfs"}, &gfs); err != nil || gfs.Spec.Retention == nil || gfs.Spec.Retention.KeepDaily != 7 || gfs.Spec.Retention.KeepMonthly != 12 || gfs.Spec.Template.TTL != nil {
		t.Fatalf("schedule with --keep-*: %+v, %v", gfs.Spec, err)
	}
	if r := cairn(t, e, "ctl", "schedule", "get").must(t, 0); !strings.Contains(r.stdout, "calendar: 7d 0w 12m 0y") {
		t.Errorf("schedule get does not show the calendar retention:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "schedule", "delete", "gfs").must(t, 0)
	// Restore drills.
	cairn(t, e, "ctl", "drill", "create", "weekly", "--from-schedule", "gfs", "--schedule", "@weekly").must(t, 0)
	cairn(t, e, "ctl", "drill", "create", "neither").must(t, 2)
	cairn(t, e, "ctl", "drill", "create", "both", "--from-schedule", "a", "--from-backup", "b").must(t, 2)
	var drill cairnv1.RestoreTest
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "weekly"}, &drill); err != nil || drill.Spec.ScheduleName != "gfs" || drill.Spec.Schedule != "@weekly" {
		t.Fatalf("drill: %+v, %v", drill.Spec, err)
	}
	if r := cairn(t, e, "ctl", "drill", "get").must(t, 0); !strings.Contains(r.stdout, "weekly") {
		t.Errorf("drill get:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "drill", "describe", "weekly").must(t, 0)
	cairn(t, e, "ctl", "drill", "describe", "nope").must(t, 2) // not found: bad input
	cairn(t, e, "ctl", "drill", "delete", "weekly").must(t, 0)
	cairn(t, e, "ctl", "schedule", "pause", "daily-backup").must(t, 0)
	var s cairnv1.Schedule
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "daily-backup"}, &s); err != nil || !s.Spec.Paused || s.Spec.Schedule != "0 0 * * *" || s.Spec.Template.TTL.Duration != 720*time.Hour {
		t.Fatalf("schedule after pause: %+v, %v", s.Spec, err)
	}
	cairn(t, e, "ctl", "schedule", "unpause", "daily-backup").must(t, 0)
	r = cairn(t, e, "ctl", "schedule", "get").must(t, 0)
	if !strings.Contains(r.stdout, "daily-backup") || !strings.Contains(r.stdout, "720h") {
		t.Errorf("schedule get:\n%s", r.stdout)
	}
	cairn(t, e, "ctl", "schedule", "describe", "daily-backup").must(t, 0)
	cairn(t, e, "ctl", "schedule", "delete", "daily-backup").must(t, 0)
	cairn(t, e, "ctl", "backup", "delete", "b-failed").must(t, 0)
	cairn(t, e, "ctl", "location", "get").must(t, 0)
}
