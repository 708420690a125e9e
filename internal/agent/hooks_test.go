package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestBackupHooks runs exec hooks for real, through the API server and the
// kubelet of a node in its own network namespace (WithNodeNetwork). Four
// pods with an emptyDir each:
//   - consistent: its pre hook (annotations) writes a file into the volume,
//     which is in the volume's snapshot; its post hook writes another after
//     the backup, which is not;
//   - failing: its pre hook exits 3 (on-error Fail by default): its volume
//     is not backed up, the backup is PartiallyFailed saying why, and its
//     post hook still runs;
//   - continuing: its pre hook exits 4 with on-error Continue: a warning,
//     and the volume is backed up;
//   - selected: no annotations; the Backup's spec.hooks selects it by label:
//     its first pre hook writes a file that is in the snapshot, its second
//     (on-error Continue) runs past its timeout: a warning.
func TestBackupHooks(t *testing.T) {
	c := kubetest.Start(t, kubetest.WithNode(kubetest.WithNodeNetwork()))
	n := c.Node
	crds, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("loading the CRDs: %d loaded, want %d (%v), %v", len(crds), len(cairnv1.Kinds), cairnv1.Kinds, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	scheme, err := controller.Scheme()
	must(t, err)
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	must(t, err)
	cs := c.Clientset(t)
	ctlNS := c.Namespace(t)
	location(ctx, t, cl, ctlNS)
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ctlNS: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	must(t, err)
	must(t, agent.Setup(mgr, agent.Options{Node: n.Name, Namespace: ctlNS, Root: n.PodsDir, ProgressInterval: 200 * time.Millisecond}))
	mctx, stop := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mctx) }()
	t.Cleanup(func() { stop(); <-mgrDone })
	rs := controller.New(cl, cl, controller.Options{Namespace: ctlNS, Cluster: c.Config, VolumeTimeout: 2 * time.Minute, Recheck: 250 * time.Millisecond})

	appNS := "hooks-" + rand.String(6)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), appNS, metav1.DeleteOptions{}) })
	token := rand.String(10)
	post := `["/bin/sh","-c","echo post > /data/post-hook.txt"]`
	for name, ann := range map[string]map[string]string{
		"consistent": {
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","echo ` + token + ` > /data/pre-hook.txt; sync"]`,
			"post.hook.backup.velero.io/command": post,
		},
		"failing": {
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","echo cannot flush >&2; exit 3"]`,
			"pre.hook.backup.velero.io/timeout":  "20s",
			"post.hook.backup.velero.io/command": post,
		},
		"continuing": {
			"pre.hook.backup.velero.io/command":   `["/bin/sh","-c","exit 4"]`,
			"pre.hook.backup.velero.io/on-error":  "Continue",
			"pre.hook.backup.velero.io/container": "main",
		},
		"selected": nil,
	} {
		_, err := cs.CoreV1().Pods(appNS).Create(ctx, hookPod(name, ann), metav1.CreateOptions{})
		must(t, err)
	}
	uids := map[string]types.UID{}
	waitFor(ctx, t, 2*time.Minute, "the four pods to run", func() bool {
		pods, err := cs.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 4 {
			return false
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || read(filepath.Join(n.VolumeDir(p.UID, kubetest.PluginEmptyDir, "data"), "base.txt")) != "base" {
				return false
			}
			uids[p.Name] = p.UID
		}
		return true
	})

	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "hooked", Namespace: ctlNS}, Spec: cairnv1.BackupSpec{
		IncludedNamespaces: []string{appNS},
		Hooks: cairnv1.BackupHooks{Resources: []cairnv1.BackupResourceHookSpec{{
			Name: "dbs", IncludedNamespaces: []string{"hooks-*"},
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}},
			PreHooks: []cairnv1.BackupResourceHook{
				{Exec: &cairnv1.ExecHook{Command: []string{"/bin/sh", "-c", "echo spec-" + token + " > /data/spec-hook.txt"}}},
				{Exec: &cairnv1.ExecHook{Command: []string{"sleep", "60"}, OnError: cairnv1.HookErrorContinue, Timeout: &metav1.Duration{Duration: 2 * time.Second}}},
			},
		}}},
	}}
	must(t, cl.Create(ctx, b))
	reconcile(ctx, t, rs.Backup, ctlNS, b.Name)
	reconcile(ctx, t, rs.Backup, ctlNS, b.Name) // the finalizer's update leaves it New once
	must(t, cl.Get(ctx, client.ObjectKeyFromObject(b), b))
	v := b.Status.Volumes
	t.Logf("backup: %s: %s; volumes %+v", b.Status.Phase, b.Status.FailureReason, v)
	if b.Status.Phase != cairnv1.PhasePartiallyFailed || v == nil || v.Completed != 3 || len(v.Failed) != 1 || len(v.Warnings) != 2 {
		t.Fatalf("backup: phase %s (%s), volumes %+v", b.Status.Phase, b.Status.FailureReason, v)
	}
	for what, s := range map[string]string{"failed": v.Failed[0], "reason": b.Status.FailureReason} {
		for _, want := range []string{appNS + "/failing volume data: not backed up, a pre hook failed", "exit code 3", "cannot flush"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s %q lacks %q", what, s, want)
			}
		}
	}
	if w := v.Warnings[0]; !strings.Contains(w, appNS+"/continuing: pre hook annotation") || !strings.Contains(w, "exit code 4") {
		t.Errorf("warning %q", w)
	}
	if w := v.Warnings[1]; !strings.Contains(w, appNS+"/selected: pre hook dbs [\"sleep\",\"60\"]") || !strings.Contains(w, "did not finish within 2s") {
		t.Errorf("warning %q", w)
	}

	// The work items: none for the failing pod; the others' snapshots.
	var pvbs cairnv1.PodVolumeBackupList
	must(t, cl.List(ctx, &pvbs, client.InNamespace(ctlNS)))
	snaps := map[string]string{}
	for _, p := range pvbs.Items {
		snaps[p.Spec.Pod.Name] = p.Status.SnapshotID
	}
	if _, ok := snaps["failing"]; ok || len(snaps) != 3 {
		t.Fatalf("PodVolumeBackups for %v, want consistent, continuing and selected", snaps)
	}
	var loc cairnv1.BackupLocation
	must(t, cl.Get(ctx, client.ObjectKey{Namespace: ctlNS, Name: "default"}, &loc))
	st, err := local.New(loc.Spec.Repository)
	must(t, err)
	rp, err := repo.Open(ctx, st, []byte(passphrase), repo.Options{})
	must(t, err)
	defer rp.Close()
	restored := func(pod string) string {
		sn, err := snapshot.Load(ctx, rp, snaps[pod])
		must(t, err)
		dir := t.TempDir()
		_, err = restorer.Run(ctx, rp, sn, restorer.Options{Target: dir})
		must(t, err)
		return dir
	}
	dir := restored("consistent")
	if got := read(filepath.Join(dir, "pre-hook.txt")); got != token {
		t.Errorf("consistent: the pre hook's file in the snapshot holds %q, want %q", got, token)
	}
	if got := read(filepath.Join(dir, "post-hook.txt")); got != "" {
		t.Errorf("consistent: the post hook's file is in the snapshot (%q): it ran before the backup", got)
	}
	if got := read(filepath.Join(restored("selected"), "spec-hook.txt")); got != "spec-"+token {
		t.Errorf("selected: the spec pre hook's file in the snapshot holds %q", got)
	}
	if got := read(filepath.Join(restored("continuing"), "base.txt")); got != "base" {
		t.Errorf("continuing: base.txt in the snapshot holds %q", got)
	}
	for _, pod := range []string{"consistent", "failing"} {
		if got := read(filepath.Join(n.VolumeDir(uids[pod], kubetest.PluginEmptyDir, "data"), "post-hook.txt")); got != "post" {
			t.Errorf("%s: the post hook did not run (post-hook.txt %q)", pod, got)
		}
	}
	fmt.Printf("hooks: pre hook file in the snapshot, failing pre hook failed its pod's volume (%s), Continue warned\n", v.Failed[0])
}

// hookPod is a pod with an emptyDir at /data holding base.txt.
func hookPod(name string, ann map[string]string) *corev1.Pod {
	grace := int64(1)
	labels := map[string]string{"app": name}
	if ann == nil {
		labels["role"] = "db"
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann, Labels: labels},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "main", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", "echo base > /data/base.txt; sync; exec sleep 3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}
