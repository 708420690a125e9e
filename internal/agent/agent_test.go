package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

const passphrase = "correct horse battery staple"

// TestPodVolumes runs on a real node: a Deployment whose pod writes into a
// local PV and an emptyDir is backed up (resources and volumes, by the
// agent reading the kubelet's folders); the namespace and the PV object
// are deleted (the PV's folder stays, with a file added and one changed);
// a restore into another namespace brings the app back: its init
// container holds it until the agent restored both volumes, same-named
// files are overwritten, the added file is kept.
func TestPodVolumes(t *testing.T) {
	c := kubetest.Shared(t)
	n := c.Node
	crds, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("loading the CRDs: %d loaded, want %d (%v), %v", len(crds), len(cairnv1.Kinds), cairnv1.Kinds, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs := c.Clientset(t)
	ctlNS := c.Namespace(t)
	location(ctx, t, cl, ctlNS)

	// The agent, as its DaemonSet pod would run it, on the test's node.
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ctlNS: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // other tests run agents too
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Setup(mgr, agent.Options{Node: n.Name, Namespace: ctlNS, Root: n.PodsDir, ProgressInterval: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mctx) }()
	t.Cleanup(func() { stop(); <-mgrDone })
	rs := controller.New(cl, cl, controller.Options{Namespace: ctlNS, Cluster: c.Config, VolumeTimeout: 2 * time.Minute, Recheck: 250 * time.Millisecond, RestoreWaitImage: kubetest.BusyboxImage})

	// The application.
	appNS := "app-" + rand.String(6)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vol, err := n.CreateLocalVolume(ctx, appNS, "data", t.TempDir(), "1Gi")
	if err != nil {
		t.Fatal(err)
	}
	token := rand.String(10)
	if _, err := cs.AppsV1().Deployments(appNS).Create(ctx, writer(vol.PVC, token), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := runningPod(ctx, t, cs, appNS)
	scratch := n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "scratch")
	waitFor(ctx, t, 30*time.Second, "the app's files", func() bool {
		return read(filepath.Join(vol.Path, "hello.txt")) == "pv-"+token && read(filepath.Join(scratch, "state")) == "fresh"
	})

	// Back up.
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: ctlNS}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{appNS}}}
	if err := cl.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	reconcile(ctx, t, rs.Backup, ctlNS, "b1")
	reconcile(ctx, t, rs.Backup, ctlNS, "b1") // the finalizer's update leaves it New once
	if err := cl.Get(ctx, types.NamespacedName{Namespace: ctlNS, Name: "b1"}, b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 2 {
		t.Fatalf("backup: phase %s (%s), volumes %+v", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
	}
	var pvbs cairnv1.PodVolumeBackupList
	if err := cl.List(ctx, &pvbs, client.InNamespace(ctlNS)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pvbs.Items {
		t.Logf("PodVolumeBackup %s: volume %s pvc %q owner %s: %s, %d files, %d bytes, snapshot %s",
			p.Name, p.Spec.Volume, p.Spec.PVC, p.Spec.Owner, p.Status.Phase, p.Status.Progress.Files, p.Status.Progress.Bytes, p.Status.SnapshotID)
		if p.Spec.Owner != "Deployment/writer" || p.Status.SnapshotID == "" || p.Status.Progress.Files == 0 {
			t.Errorf("PodVolumeBackup %s: %+v %+v", p.Name, p.Spec, p.Status)
		}
	}

	// Disaster: the namespace and the PV object go; the PV's folder stays
	// (Retain), with a file changed and one added since the backup.
	must(t, os.WriteFile(filepath.Join(vol.Path, "hello.txt"), []byte("changed\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(vol.Path, "extra.txt"), []byte("keep\n"), 0o644))
	if err := cs.CoreV1().Namespaces().Delete(ctx, appNS, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, 2*time.Minute, "the namespace to be deleted", func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, appNS, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if err := cs.CoreV1().PersistentVolumes().Delete(ctx, vol.PV, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, time.Minute, "the PV to be deleted", func() bool {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, vol.PV, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// Restore into another namespace.
	target := appNS + "-r"
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), target, metav1.DeleteOptions{})
		_ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), vol.PV, metav1.DeleteOptions{})
	})
	r := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: ctlNS}, Spec: cairnv1.RestoreSpec{BackupName: "b1", NamespaceMapping: map[string]string{appNS: target}}}
	if err := cl.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	reconcile(ctx, t, rs.Restore, ctlNS, "r1")
	if err := cl.Get(ctx, types.NamespacedName{Namespace: ctlNS, Name: "r1"}, r); err != nil {
		t.Fatal(err)
	}
	if r.Status.Phase != cairnv1.PhaseCompleted || r.Status.Volumes == nil || r.Status.Volumes.Completed != 2 {
		t.Fatalf("restore: phase %s (%s), volumes %+v, failures %v", r.Status.Phase, r.Status.FailureReason, r.Status.Volumes, r.Status.Failures)
	}
	pod = runningPod(ctx, t, cs, target)
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != podvolume.InitContainerName {
		t.Fatalf("restored pod has no restore-wait init container: %+v", pod.Spec.InitContainers)
	}
	scratch = n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "scratch")
	pvDir := n.VolumeDir(pod.UID, kubetest.PluginLocal, vol.PV)
	waitFor(ctx, t, 30*time.Second, "the restored app's files", func() bool {
		return read(filepath.Join(scratch, "state")) == "restored"
	})
	for path, want := range map[string]string{
		filepath.Join(vol.Path, "hello.txt"):            "pv-" + token, // overwritten with the backup's
		filepath.Join(vol.Path, "extra.txt"):            "keep",        // not in the backup: kept
		filepath.Join(pvDir, "hello.txt"):               "pv-" + token, // through the new pod's mount
		filepath.Join(scratch, "sub", "hello.txt"):      "ed-" + token, // the emptyDir's data is back
		filepath.Join(scratch, "seen-at-start"):         "ed-" + token, // ...before the app started
		filepath.Join(vol.Path, "seen-pv-at-start.txt"): "pv-" + token,
	} {
		if got := read(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	for _, dir := range []string{scratch, vol.Path} {
		if m, _ := filepath.Glob(filepath.Join(dir, podvolume.MarkerGlob)); len(m) > 0 {
			t.Errorf("markers left in the volume: %v", m)
		}
	}
	fmt.Printf("agent: Deployment with a local PV and an emptyDir backed up, namespace deleted, restored into %s with its data\n", target)
}

// writer is a Deployment that writes into a PVC and an emptyDir when they
// are empty, and records what it found at start.
func writer(pvc, token string) *appsv1.Deployment {
	script := strings.Join([]string{
		"if [ -f /scratch/sub/hello.txt ]; then echo restored > /scratch/state; else echo fresh > /scratch/state; mkdir -p /scratch/sub; echo ed-" + token + " > /scratch/sub/hello.txt; fi",
		"[ -f /pv/hello.txt ] || echo pv-" + token + " > /pv/hello.txt",
		"cat /scratch/sub/hello.txt > /scratch/seen-at-start",
		"cat /pv/hello.txt > /pv/seen-pv-at-start.txt",
		"sync",
		"exec sleep 3600",
	}, "; ")
	labels := map[string]string{"app": "writer"}
	replicas, grace := int32(1), int64(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "writer"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name: "writer", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
						Command:      []string{"/bin/sh", "-c", script},
						VolumeMounts: []corev1.VolumeMount{{Name: "pv", MountPath: "/pv"}, {Name: "scratch", MountPath: "/scratch"}},
					}},
					Volumes: []corev1.Volume{
						{Name: "pv", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc}}},
						{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}

func location(ctx context.Context, t *testing.T, cl client.Client, ns string) {
	dir := filepath.Join(t.TempDir(), "repo")
	must(t, os.MkdirAll(dir, 0o700))
	s, err := local.New(dir)
	must(t, err)
	r, err := repo.Init(ctx, s, []byte(passphrase), repo.Options{})
	must(t, err)
	r.Close()
	must(t, cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pass", Namespace: ns}, StringData: map[string]string{"passphrase": passphrase}}))
	must(t, cl.Create(ctx, &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: dir, Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pass"}, Key: "passphrase"},
		},
	}))
}

type reconciler interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}

func reconcile(ctx context.Context, t *testing.T, r reconciler, ns, name string) {
	t.Helper()
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile %T %s: %v", r, name, err)
	}
	if i, ok := r.(interface{ Idle() }); ok {
		i.Idle() // the run it started, outside Reconcile
	}
}

func runningPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	waitFor(ctx, t, 2*time.Minute, "the app's pod in "+ns+" to run", func() bool {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=writer"})
		if err != nil || len(pods.Items) != 1 {
			return false
		}
		pod = pods.Items[0]
		return pod.Status.Phase == corev1.PodRunning
	})
	return pod
}

func waitFor(ctx context.Context, t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func read(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
