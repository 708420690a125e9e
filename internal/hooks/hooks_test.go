package hooks

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

func pod(ann map[string]string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "db-0", Annotations: ann, Labels: labels}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

func TestFromAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		phase Phase
		want  *Hook
		err   string
	}{
		{"none", nil, Pre, nil, ""},
		{"other phase only", map[string]string{"post.hook.backup.velero.io/command": `["true"]`}, Pre, nil, ""},
		{"defaults", map[string]string{"pre.hook.backup.velero.io/command": `["/bin/sh","-c","sync"]`}, Pre,
			&Hook{Name: "annotation", Container: "db", Command: []string{"/bin/sh", "-c", "sync"}, OnError: cairnv1.HookErrorFail, Timeout: 30 * time.Second}, ""},
		{"all fields", map[string]string{
			"post.hook.backup.velero.io/command":   `["fsfreeze","--unfreeze","/data"]`,
			"post.hook.backup.velero.io/container": "sidecar",
			"post.hook.backup.velero.io/on-error":  "Continue",
			"post.hook.backup.velero.io/timeout":   "2m",
		}, Post, &Hook{Name: "annotation", Container: "sidecar", Command: []string{"fsfreeze", "--unfreeze", "/data"}, OnError: cairnv1.HookErrorContinue, Timeout: 2 * time.Minute}, ""},
		{"on-error any case", map[string]string{"pre.hook.backup.velero.io/command": `["x"]`, "pre.hook.backup.velero.io/on-error": "fail"}, Pre,
			&Hook{Name: "annotation", Container: "db", Command: []string{"x"}, OnError: cairnv1.HookErrorFail, Timeout: 30 * time.Second}, ""},
		{"plain word", map[string]string{"pre.hook.backup.velero.io/command": "sync"}, Pre,
			&Hook{Name: "annotation", Container: "db", Command: []string{"sync"}, OnError: cairnv1.HookErrorFail, Timeout: 30 * time.Second}, ""},
		{"bad json", map[string]string{"pre.hook.backup.velero.io/command": `["sh",`}, Pre, nil, "not a JSON array"},
		{"empty array", map[string]string{"pre.hook.backup.velero.io/command": `[]`}, Pre, nil, "empty command"},
		{"empty", map[string]string{"pre.hook.backup.velero.io/command": ` `}, Pre, nil, "empty command"},
		{"bad on-error", map[string]string{"pre.hook.backup.velero.io/command": `["x"]`, "pre.hook.backup.velero.io/on-error": "Ignore"}, Pre, nil, "want Fail or Continue"},
		{"bad timeout", map[string]string{"pre.hook.backup.velero.io/command": `["x"]`, "pre.hook.backup.velero.io/timeout": "30"}, Pre, nil, "not a positive duration"},
		{"negative timeout", map[string]string{"pre.hook.backup.velero.io/command": `["x"]`, "pre.hook.backup.velero.io/timeout": "-1s"}, Pre, nil, "not a positive duration"},
		{"unknown container", map[string]string{"pre.hook.backup.velero.io/command": `["x"]`, "pre.hook.backup.velero.io/container": "nope"}, Pre, nil, `no container "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromAnnotations(pod(tc.ann, nil, "db", "sidecar"), tc.phase)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestForPod(t *testing.T) {
	spec := cairnv1.BackupHooks{Resources: []cairnv1.BackupResourceHookSpec{
		{Name: "dbs", IncludedNamespaces: []string{"app*"}, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}},
			PreHooks: []cairnv1.BackupResourceHook{
				{Exec: &cairnv1.ExecHook{Command: []string{"flush"}}},
				{Exec: &cairnv1.ExecHook{Command: []string{"freeze"}, Container: "sidecar", OnError: cairnv1.HookErrorContinue, Timeout: &metav1.Duration{Duration: time.Minute}}},
			},
			PostHooks: []cairnv1.BackupResourceHook{{Exec: &cairnv1.ExecHook{Command: []string{"thaw"}}}}},
		{Name: "not-app", ExcludedNamespaces: []string{"app"}, PreHooks: []cairnv1.BackupResourceHook{{Exec: &cairnv1.ExecHook{Command: []string{"other"}}}}},
	}}
	db := map[string]string{"role": "db"}

	pre, err := ForPod(pod(nil, db, "db", "sidecar"), Pre, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []Hook{
		{Name: "dbs", Container: "db", Command: []string{"flush"}, OnError: cairnv1.HookErrorFail, Timeout: DefaultTimeout},
		{Name: "dbs", Container: "sidecar", Command: []string{"freeze"}, OnError: cairnv1.HookErrorContinue, Timeout: time.Minute},
	}
	if !reflect.DeepEqual(pre, want) {
		t.Fatalf("pre hooks %+v, want %+v", pre, want)
	}
	if post, err := ForPod(pod(nil, db, "db"), Post, spec); err != nil || len(post) != 1 || post[0].Command[0] != "thaw" {
		t.Fatalf("post hooks %+v, %v", post, err)
	}
	if h, err := ForPod(pod(nil, map[string]string{"role": "web"}, "web"), Pre, spec); err != nil || len(h) != 0 {
		t.Fatalf("a pod no resource hook selects got %+v, %v", h, err)
	}
	// Annotations take precedence, phase by phase.
	ann := map[string]string{"post.hook.backup.velero.io/command": `["own"]`}
	if h, err := ForPod(pod(ann, db, "db", "sidecar"), Pre, spec); err != nil || len(h) != 2 || h[0].Name != "dbs" {
		t.Fatalf("pre hooks of a pod with its own post hook only: %+v, %v", h, err)
	}
	if h, err := ForPod(pod(ann, db, "db"), Post, spec); err != nil || len(h) != 1 || h[0].Command[0] != "own" || h[0].Name != "annotation" {
		t.Fatalf("post hooks of a pod with its own: %+v, %v", h, err)
	}
	// A spec hook naming a container the pod lacks is an error.
	if _, err := ForPod(pod(nil, db, "db"), Pre, spec); err == nil || !strings.Contains(err.Error(), `no container "sidecar"`) {
		t.Fatalf("missing container: %v", err)
	}
}

type fakeExec struct {
	ran  [][]string
	fail map[string]error
}

func (f *fakeExec) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdout, stderr io.Writer) error {
	f.ran = append(f.ran, cmd)
	if err := f.fail[cmd[0]]; err != nil {
		_, _ = io.WriteString(stderr, strings.Repeat("x", 2000)+"disk full\n")
		return err
	}
	if cmd[0] == "hang" {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func TestRun(t *testing.T) {
	p := pod(nil, nil, "db")
	ex := &fakeExec{fail: map[string]error{"warn": errors.New("command terminated with exit code 2"), "bad": errors.New("command terminated with exit code 1")}}
	res := Run(context.Background(), ex, p, []Hook{
		{Name: "a", Container: "db", Command: []string{"ok"}, OnError: cairnv1.HookErrorFail, Timeout: time.Second},
		{Name: "b", Container: "db", Command: []string{"warn"}, OnError: cairnv1.HookErrorContinue, Timeout: time.Second},
		{Name: "c", Container: "db", Command: []string{"hang"}, OnError: cairnv1.HookErrorContinue, Timeout: 50 * time.Millisecond},
		{Name: "d", Container: "db", Command: []string{"bad"}, OnError: cairnv1.HookErrorFail, Timeout: time.Second},
		{Name: "e", Container: "db", Command: []string{"never"}, OnError: cairnv1.HookErrorFail, Timeout: time.Second},
	})
	if len(ex.ran) != 4 {
		t.Errorf("ran %v: the hooks after a failing Fail hook must not run", ex.ran)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "exit code 2") || !strings.Contains(res.Warnings[1], "did not finish within 50ms") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "hook d [\"bad\"] in container db failed: command terminated with exit code 1") ||
		!strings.Contains(res.Err.Error(), "disk full") || len(res.Err.Error()) > 800 {
		t.Errorf("error %v", res.Err)
	}
}
