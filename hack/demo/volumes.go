package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// volumeDemo is the pod volume part of the demo (issue 5): on a real node
// (kubetest.WithNode: kube-scheduler, containerd and a kubelet; `make
// node-deps`), the cairn controller and node agent run in this process;
// a stateful app (a Deployment with a local PersistentVolume) writes its
// data; a Backup saves the namespace and the volume; the namespace, the PV
// and the PV's files are deleted; a Restore brings the app back, held by
// its restore-wait init container until the agent has put its data back.
// When the node cannot start, it says why and returns nil.
func volumeDemo(ctx context.Context, dir string) error {
	say("Pod volumes on a real node: a stateful app loses its namespace and its disk, and comes back with its data")
	start := time.Now()
	c, err := kubetest.StartProcess(filepath.Join(dir, "node-cluster"), kubetest.WithNode())
	if err != nil {
		fmt.Printf("skipped: the node did not start: %s\n(`make node-deps` installs containerd, runc and the images; a node needs root)\n",
			strings.SplitN(err.Error(), "\n", 2)[0])
		return nil
	}
	defer c.Stop()
	n := c.Node
	fmt.Printf("a control plane with kube-scheduler, and node %s (containerd and a kubelet) ready in %s\n", n.Name, time.Since(start).Round(100*time.Millisecond))

	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("cairn's CRDs: %w", err)
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	const cairnNS, appNS = "cairn", "notes"
	for _, ns := range []string{cairnNS, appNS} {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}

	// The BackupLocation: an encrypted repository in a local folder.
	repoDir := filepath.Join(dir, "volume-repo")
	const pass = "demo passphrase: choose your own"
	if err := os.MkdirAll(repoDir, 0o700); err != nil {
		return err
	}
	s, err := local.New(repoDir)
	if err != nil {
		return err
	}
	r, err := repo.Init(ctx, s, []byte(pass), repo.Options{})
	if err != nil {
		return err
	}
	r.Close()
	if err := cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "repo-pass", Namespace: cairnNS}, StringData: map[string]string{"passphrase": pass}}); err != nil {
		return err
	}
	if err := cl.Create(ctx, &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: cairnNS},
		Spec: cairnv1.BackupLocationSpec{Repository: repoDir, Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "repo-pass"}, Key: "passphrase"}},
	}); err != nil {
		return err
	}

	// The node agent, as its DaemonSet pod would run it, and the controller.
	ctrl.SetLogger(logr.Discard())
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{cairnNS: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	if err := agent.Setup(mgr, agent.Options{Node: n.Name, Namespace: cairnNS, Root: n.PodsDir, ProgressInterval: time.Second}); err != nil {
		return err
	}
	// The controller's reconcilers in the same manager: watches and
	// operations, as cairn-controller runs them.
	if _, err := controller.Setup(mgr, controller.Options{Namespace: cairnNS, Cluster: c.Config, VolumeTimeout: 2 * time.Minute, RestoreWaitImage: kubetest.BusyboxImage}); err != nil {
		return err
	}
	mctx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); _ = mgr.Start(mctx) }()
	defer func() { stopAgent(); <-agentDone }()
	if err := poll(ctx, 30*time.Second, "the agent's lease", func() bool {
		nodes, err := agentlease.Nodes(ctx, cl, cairnNS, time.Now())
		return err == nil && nodes[n.Name]
	}); err != nil {
		return err
	}
	fmt.Printf("cairn controller and node agent running (the agent reads the kubelet's %s)\n", n.PodsDir)

	// The app.
	pvDir := filepath.Join(dir, "disk")
	if err := os.MkdirAll(pvDir, 0o755); err != nil {
		return err
	}
	vol, err := n.CreateLocalVolume(ctx, appNS, "data", pvDir, "1Gi")
	if err != nil {
		return err
	}
	if _, err := kc.AppsV1().Deployments(appNS).Create(ctx, notesApp(vol.PVC), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := appPod(ctx, kc, appNS); err != nil {
		return err
	}
	notes, data := filepath.Join(pvDir, "notes.txt"), filepath.Join(pvDir, "data.bin")
	if err := poll(ctx, 30*time.Second, "the app's data", func() bool { return fileSum(data) != "" && strings.Contains(readFile(notes), "ready") }); err != nil {
		return err
	}
	before := fileSum(data)
	fmt.Printf("Deployment notes/notes runs with PVC data (local PV %s on %s); it wrote:\n", vol.PV, pvDir)
	fmt.Print(indent(readFile(notes)))
	fmt.Printf("  data.bin: 4 MiB, md5 %s\n", before)

	say("Backup notes-1: the namespace's resources, and the volume by the node agent")
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "notes-1", Namespace: cairnNS}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{appNS}}}
	if err := cl.Create(ctx, b); err != nil {
		return err
	}
	if err := poll(ctx, 3*time.Minute, "backup "+b.Name, func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(b), b) == nil && finished(b.Status.Phase)
	}); err != nil {
		return err
	}
	fmt.Printf("backup %s: %s; pod volumes: %s\n", b.Name, b.Status.Phase, volumeLine(b.Status.Volumes))
	var pvbs cairnv1.PodVolumeBackupList
	if err := cl.List(ctx, &pvbs, client.InNamespace(cairnNS)); err != nil {
		return err
	}
	for _, p := range pvbs.Items {
		fmt.Printf("  PodVolumeBackup %s: pod %s/%s volume %s (PVC %s) on node %s: %s, %d files, %d bytes, snapshot %.8s\n",
			p.Name, p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume, p.Spec.PVC, p.Spec.Node, p.Status.Phase, p.Status.Progress.Files, p.Status.Progress.Bytes, p.Status.SnapshotID)
	}
	if b.Status.Phase != cairnv1.PhaseCompleted {
		return fmt.Errorf("backup %s: %s: %s", b.Name, b.Status.Phase, b.Status.FailureReason)
	}

	say("Disaster: namespace notes deleted, the PV deleted, and the disk's files lost")
	if err := kc.CoreV1().Namespaces().Delete(ctx, appNS, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := poll(ctx, 2*time.Minute, "namespace notes to be deleted", func() bool {
		_, err := kc.CoreV1().Namespaces().Get(ctx, appNS, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}); err != nil {
		return err
	}
	if err := kc.CoreV1().PersistentVolumes().Delete(ctx, vol.PV, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := poll(ctx, time.Minute, "the PV to be deleted", func() bool {
		_, err := kc.CoreV1().PersistentVolumes().Get(ctx, vol.PV, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}); err != nil {
		return err
	}
	if err := os.RemoveAll(pvDir); err != nil {
		return err
	}
	if err := os.MkdirAll(pvDir, 0o755); err != nil { // a new, empty disk at the same place
		return err
	}
	left, _ := os.ReadDir(pvDir)
	fmt.Printf("namespace notes and PV %s are gone; %s holds %d files\n", vol.PV, pvDir, len(left))

	say("Restore notes-1: the app comes back, and waits for its data")
	rst := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "notes-1", Namespace: cairnNS}, Spec: cairnv1.RestoreSpec{BackupName: b.Name}}
	if err := cl.Create(ctx, rst); err != nil {
		return err
	}
	if err := poll(ctx, 3*time.Minute, "restore "+rst.Name, func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(rst), rst) == nil && finished(rst.Status.Phase)
	}); err != nil {
		return err
	}
	fmt.Printf("restore %s: %s; pod volumes: %s\n", rst.Name, rst.Status.Phase, volumeLine(rst.Status.Volumes))
	if rst.Status.Phase != cairnv1.PhaseCompleted {
		return fmt.Errorf("restore %s: %s: %s %v", rst.Name, rst.Status.Phase, rst.Status.FailureReason, rst.Status.Failures)
	}
	pod, err := appPod(ctx, kc, appNS)
	if err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, "the restored app to start", func() bool { return strings.Contains(readFile(notes), "restarted") }); err != nil {
		return err
	}
	var inits []string
	for _, ic := range pod.Spec.InitContainers {
		inits = append(inits, ic.Name)
	}
	fmt.Printf("pod %s/%s is Running; its init containers %v held it until the agent had restored the volume\n", pod.Namespace, pod.Name, inits)
	fmt.Printf("the app found its data on start (%s):\n", notes)
	fmt.Print(indent(readFile(notes)))
	after := fileSum(data)
	same := "the same"
	if after != before {
		same = "DIFFERENT"
	}
	fmt.Printf("  data.bin: md5 %s, %s as before the disaster\n", after, same)
	if after != before {
		return fmt.Errorf("the restored data differs")
	}
	if m, _ := filepath.Glob(filepath.Join(pvDir, podvolume.MarkerGlob)); len(m) > 0 {
		return fmt.Errorf("restore markers left in the volume: %v", m)
	}
	return drillDemo(ctx, cl, kc, cairnNS)
}

// drillDemo backs up a cache service (a Deployment with an emptyDir) and
// runs a restore drill of it: the backup restored into a scratch
// namespace, every object counted, every volume file read back against
// the snapshot, the pod Ready, the measured recovery time recorded, and
// the scratch namespace deleted.
func drillDemo(ctx context.Context, cl client.Client, kc kubernetes.Interface, cairnNS string) error {
	say("Restore drill: is the backup restorable? Restored into a scratch namespace, checked, deleted")
	const appNS = "cache"
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	labels := map[string]string{"app": "cache"}
	script := "echo warm > /cache/state.txt; dd if=/dev/urandom of=/cache/blob bs=64k count=16 2>/dev/null; sync; touch /tmp/ready; exec sleep 36000"
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cache"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				HostNetwork: true, TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{{Name: "cache", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
					Command: []string{"/bin/sh", "-c", script}, VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}, PeriodSeconds: 1}}},
				Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			}},
		},
	}
	if _, err := kc.AppsV1().Deployments(appNS).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := poll(ctx, 2*time.Minute, "the cache to be ready", func() bool {
		d, err := kc.AppsV1().Deployments(appNS).Get(ctx, "cache", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 1
	}); err != nil {
		return err
	}
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "cache-1", Namespace: cairnNS}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{appNS}}}
	if err := cl.Create(ctx, b); err != nil {
		return err
	}
	if err := poll(ctx, 3*time.Minute, "backup cache-1", func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(b), b) == nil && finished(b.Status.Phase)
	}); err != nil {
		return err
	}
	fmt.Printf("backup %s: %s; pod volumes: %s\n", b.Name, b.Status.Phase, volumeLine(b.Status.Volumes))
	d := &cairnv1.RestoreTest{ObjectMeta: metav1.ObjectMeta{Name: "cache-drill", Namespace: cairnNS}, Spec: cairnv1.RestoreTestSpec{BackupName: b.Name}}
	if err := cl.Create(ctx, d); err != nil {
		return err
	}
	if err := poll(ctx, 4*time.Minute, "drill cache-drill", func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(d), d) == nil && finished(d.Status.Phase)
	}); err != nil {
		return err
	}
	fmt.Printf("drill %s of backup %s into %v: %s\n", d.Name, d.Status.BackupName, d.Status.Namespaces, d.Status.Phase)
	for _, ck := range d.Status.Checks {
		mark := "ok  "
		if !ck.Passed {
			mark = "FAIL"
		}
		fmt.Printf("  %s %-8s %s\n", mark, ck.Name, ck.Message)
	}
	if d.Status.Phase != cairnv1.PhaseCompleted {
		return fmt.Errorf("drill %s: %s", d.Name, d.Status.FailureReason)
	}
	fmt.Printf("measured recovery time: %s; the scratch namespace is deleted, the source namespace %s was not touched\n", d.Status.Duration.Duration, appNS)
	return nil
}

// notesApp is a stateful app: on first start it writes its data into the
// volume; on every start it records what it found.
func notesApp(pvc string) *appsv1.Deployment {
	script := strings.Join([]string{
		"if [ -f /data/data.bin ]; then echo \"restarted: found data.bin of $(wc -c < /data/data.bin) bytes\" >> /data/notes.txt;",
		"else echo 'note 1: buy milk' > /data/notes.txt; echo 'note 2: back up the cluster' >> /data/notes.txt;",
		"dd if=/dev/urandom of=/data/data.bin bs=1M count=4 2>/dev/null; echo 'ready: wrote data.bin' >> /data/notes.txt; fi",
		"; sync; exec sleep 36000",
	}, " ")
	labels := map[string]string{"app": "notes"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "notes"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				HostNetwork: true, TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{{Name: "notes", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
					Command: []string{"/bin/sh", "-c", script}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc}}}},
			}},
		},
	}
}

func appPod(ctx context.Context, kc kubernetes.Interface, ns string) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := poll(ctx, 2*time.Minute, "the app's pod to run", func() bool {
		pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=notes"})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return false
		}
		pod = &pods.Items[0]
		return true
	})
	return pod, err
}

func poll(ctx context.Context, d time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

func finished(p cairnv1.Phase) bool { return p.Finished() }

func volumeLine(v *cairnv1.VolumeSummary) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprintf("%d completed, %d failed, %d missed", v.Completed, len(v.Failed), len(v.Missed))
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4<<20 {
		return ""
	}
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

func indent(s string) string {
	var out strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out.WriteString("  | " + l + "\n")
	}
	return out.String()
}
