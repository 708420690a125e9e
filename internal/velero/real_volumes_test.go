package velero_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
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
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/velero"
	"github.com/cairn-backup/cairn/internal/velero/velerotest"
)

// volumeFiles fills dir with the volume's data: files of several sizes
// (one of several kopia chunks), a folder, a symlink, modes and an owner.
func volumeFiles(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		"hello.txt":           []byte("hello from a velero backup\n"),
		"db/data.bin":         random(9 << 20), // several kopia chunks: an indirect object
		"db/small.bin":        random(70 << 10),
		"db/empty":            nil,
		"deep/a/b/c/leaf.txt": []byte("leaf\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must0(t, os.Chmod(filepath.Join(dir, "db/small.bin"), 0o600))
	must0(t, os.Chown(filepath.Join(dir, "db/small.bin"), 1234, 5678))
	must0(t, os.Symlink("../hello.txt", filepath.Join(dir, "db/link")))
	old := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	must0(t, os.Chtimes(filepath.Join(dir, "hello.txt"), old, old))
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRealVeleroVolumes makes a file-system backup of a pod's volume with
// the real Velero (server and node agent, kopia uploader; the data path
// in Velero's own pod on the real node), imports it with `cairn import
// velero`, deletes the namespace, the volume object and the volume's
// files, and restores the imported backup the way a native one restores
// (a Restore run by cairn's controller, the volume filled by cairn's agent
// on the node before the pod starts): every file comes back byte for
// byte, with its mode, owner, time and symlink target. The repository
// Velero made has Velero's default password, which the import reports as
// a finding.
func TestRealVeleroVolumes(t *testing.T) {
	began := time.Now()
	src := kubetest.Start(t, kubetest.WithNode(kubetest.WithNodeNetwork(), kubetest.WithNodeImage(velerotest.Image)))
	n := src.Node
	t.Logf("control plane and node (with the Velero image) started; the node in %s", n.StartedIn.Round(time.Millisecond))
	srv := s3test.Start(t)
	srv.CreateBucket(t, "velero", false)
	cs := src.Clientset(t)
	ctx := context.Background()
	ns := "shop"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vol := n.LocalVolume(t, ns, "data")
	volumeFiles(t, vol.Path)
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: corev1.PodSpec{
			HostNetwork: true, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "db", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vol.PVC}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "db", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod shop/db not running after 2 min (%v)\n%s", err, n.LogTails(20))
		}
	}

	vs := velerotest.Start(t, src, srv, "velero", "cluster-a")
	vs.StartNodeAgent(src)
	t.Logf("velero server and node agent started: %s since the test began", time.Since(began).Round(time.Millisecond))
	start := time.Now()
	b := vs.Backup("daily-1", map[string]any{"includedNamespaces": []any{ns}, "defaultVolumesToFsBackup": true, "ttl": "720h0m0s"})
	t.Logf("velero file-system backup of %s: %s", ns, time.Since(start).Round(time.Millisecond))
	if phase, _, _ := unstructured.NestedString(b.Object, "status", "phase"); phase != "Completed" {
		t.Fatalf("velero backup: phase %s: %v\nserver:\n%s\nnode agent:\n%s", phase, b.Object["status"], tailOf(vs.Log(), 30), tailOf(vs.AgentLog(), 30))
	}
	dyn, err := dynamic.NewForConfig(src.Config)
	if err != nil {
		t.Fatal(err)
	}
	pvbs, err := dyn.Resource(schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "podvolumebackups"}).Namespace("velero").List(ctx, metav1.ListOptions{})
	if err != nil || len(pvbs.Items) != 1 {
		t.Fatalf("PodVolumeBackups: %v %v", pvbs, err)
	}
	if phase, _, _ := unstructured.NestedString(pvbs.Items[0].Object, "status", "phase"); phase != "Completed" {
		t.Fatalf("PodVolumeBackup: %v\nnode agent:\n%s", pvbs.Items[0].Object["status"], tailOf(vs.AgentLog(), 40))
	}
	// The data path ran where Velero runs it: in a pod of the Velero image
	// on the node (the webhook gave it the node's network), not in the agent.
	if !strings.Contains(vs.AgentLog(), "Hosting pod is created") || vs.PodsPatched() < 2 {
		t.Errorf("the node agent made no data-path pod (pods patched: %d)\n%s", vs.PodsPatched(), tailOf(vs.AgentLog(), 20))
	}

	dir := t.TempDir()
	env := map[string]string{
		"CAIRN_REPOSITORY": filepath.Join(dir, "repo"), "CAIRN_PASSWORD": passphrase,
		"CAIRN_S3_ENDPOINT": srv.Endpoint, "CAIRN_S3_REGION": s3test.Region,
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
	}
	must(t, 0, env, "repo", "init")
	start = time.Now()
	out := must(t, 0, env, "import", "velero", "--from", "s3://velero/cluster-a", "--all", "-o", "json")
	t.Logf("cairn import velero (1 backup, 1 volume): %s", time.Since(start).Round(time.Millisecond))
	var rep velero.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Results) != 1 || len(rep.Results[0].Volumes) != 1 {
		t.Fatalf("import: %s", out)
	}
	v := rep.Results[0].Volumes[0]
	if v.Outcome != velero.VolumeImported || v.Pod != "db" || v.Volume != "data" || v.Files != 5 {
		t.Fatalf("volume: %+v", v)
	}
	t.Logf("volume %s: %d files, %d bytes imported", v.PodVolume, v.Files, v.Bytes)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0], velero.DefaultRepoPassword) || !strings.Contains(rep.Findings[0], "namespace shop") {
		t.Errorf("findings: %q, want the default password of shop's repository", rep.Findings)
	}
	// Again: nothing new.
	if out := must(t, 0, env, "import", "velero", "--from", "s3://velero/cluster-a", "--all"); !strings.Contains(out, "0 imported, 1 already imported") {
		t.Errorf("second import:\n%s", out)
	}
	// The human output of a first import (into another repository) names
	// the volume and the finding.
	other := map[string]string{}
	for k, v := range env {
		other[k] = v
	}
	other["CAIRN_REPOSITORY"] = filepath.Join(dir, "other")
	must(t, 0, other, "repo", "init")
	code, hout, errs := cairn(t, other, "import", "velero", "--from", "s3://velero/cluster-a", "--all")
	if code != 0 || !strings.Contains(hout, "daily-1: "+v.PodVolume.String()+": data imported (5 files") ||
		!strings.Contains(errs, "cairn: finding: ") || !strings.Contains(errs, velero.DefaultRepoPassword) {
		t.Errorf("import, human output: exit %d\nstdout:\n%s\nstderr:\n%s", code, hout, errs)
	}

	// The restore finds the volume's data by the labels the agent's own
	// snapshots carry: the backup, the namespace and the claim.
	s, err := local.New(env["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all, err := snapshot.List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	f := snapshot.Filter{Label: map[string]string{podvolume.LabelKind: podvolume.KindPodVolume, podvolume.LabelBackup: "daily-1",
		podvolume.LabelNamespace: ns, podvolume.LabelPVC: vol.PVC, podvolume.LabelOwner: "Pod/db", podvolume.LabelVolume: "data"}}
	var sn *snapshot.Snapshot
	for _, x := range all {
		if f.Match(x) {
			sn = x
		}
	}
	if sn == nil || sn.ID != v.Snapshot {
		t.Fatalf("no pod-volume snapshot with the restore's labels (%s); snapshots: %d", v.Snapshot, len(all))
	}
	r.Close()

	// Disaster: the namespace and the volume object go, and the volume's
	// folder is emptied (a copy of it is what the restore must bring back).
	saved := filepath.Join(t.TempDir(), "saved")
	if out, err := exec.Command("cp", "-a", vol.Path, saved).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	vs.Stop()
	start = time.Now()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, func() error { _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); return err }, "namespace "+ns)
	if err := cs.CoreV1().PersistentVolumes().Delete(ctx, vol.PV, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, func() error {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, vol.PV, metav1.GetOptions{})
		return err
	}, "PV "+vol.PV)
	t.Logf("namespace %s and PV %s deleted: %s", ns, vol.PV, time.Since(start).Round(time.Millisecond))
	entries, err := os.ReadDir(vol.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		must0(t, os.RemoveAll(filepath.Join(vol.Path, e.Name())))
	}

	// cairn's own restore of the imported backup, as of a native one: the
	// controller (a Restore of the backup its location synced from the
	// repository) and the agent on the node, which fills the restored
	// pod's volume before the pod starts.
	start = time.Now()
	rs := cairnRestore(t, src, env["CAIRN_REPOSITORY"], "daily-1")
	t.Logf("cairn restore of daily-1 (resources, 1 volume): %s", time.Since(start).Round(time.Millisecond))
	if rs.Status.Phase != cairnv1.PhaseCompleted || rs.Status.Volumes == nil || rs.Status.Volumes.Completed != 1 {
		t.Fatalf("restore: phase %s (%s), volumes %+v, failures %v", rs.Status.Phase, rs.Status.FailureReason, rs.Status.Volumes, rs.Status.Failures)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "db", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restored pod shop/db not running after 2 min (%v)\n%s", err, n.LogTails(20))
		}
	}
	sameTree(t, saved, vol.Path)
	t.Logf("restored pod running, data compared: %s", time.Since(start).Round(time.Millisecond))
}

// waitGone waits, up to 2 minutes, until get says not found.
func waitGone(t *testing.T, get func() error, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		err := get()
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not gone after 2 min (%v)", what, err)
		}
	}
}

// cairnRestore restores backup from the local repository at repoDir into
// c as the controller does in a cluster: cairn's CRDs, a controller
// namespace with a default BackupLocation on the repository, its sync
// (the backup appears as a Backup), the node agent on c's node, and a
// Restore of the backup, run until it ends. It returns the Restore then.
func cairnRestore(t *testing.T, c *kubetest.Cluster, repoDir, backup string) *cairnv1.Restore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	scheme, err := controller.Scheme()
	must0(t, err)
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	must0(t, err)
	const cns = "cairn"
	must0(t, cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cns}}))
	must0(t, cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pass", Namespace: cns}, StringData: map[string]string{"passphrase": passphrase}}))
	must0(t, cl.Create(ctx, &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: cns},
		Spec: cairnv1.BackupLocationSpec{Repository: repoDir, Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pass"}, Key: "passphrase"}},
	}))
	rs := controller.New(cl, cl, controller.Options{Namespace: cns, Cluster: c.Config, VolumeTimeout: 2 * time.Minute,
		Recheck: 250 * time.Millisecond, RestoreWaitImage: kubetest.BusyboxImage})
	reconcileOnce(ctx, t, rs.Location, cns, "default")
	var b cairnv1.Backup
	must0(t, cl.Get(ctx, types.NamespacedName{Namespace: cns, Name: backup}, &b))

	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{cns: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	must0(t, err)
	must0(t, agent.Setup(mgr, agent.Options{Node: c.Node.Name, Namespace: cns, Root: c.Node.PodsDir, ProgressInterval: 100 * time.Millisecond, ReleaseInterval: time.Second}))
	mctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Logf("agent manager: %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if nodes, err := agentlease.Nodes(ctx, cl, cns, time.Now()); err == nil && nodes[c.Node.Name] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent holds no lease after 30s")
		}
	}

	r := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "from-velero", Namespace: cns}, Spec: cairnv1.RestoreSpec{BackupName: backup}}
	must0(t, cl.Create(ctx, r))
	reconcileOnce(ctx, t, rs.Restore, cns, r.Name)
	must0(t, cl.Get(ctx, client.ObjectKeyFromObject(r), r))
	return r
}

// reconcileOnce runs one reconcile of name and waits for the run it
// started.
func reconcileOnce(ctx context.Context, t *testing.T, r interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}, ns, name string) {
	t.Helper()
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile %T %s: %v", r, name, err)
	}
	if i, ok := r.(interface{ Idle() }); ok {
		i.Idle()
	}
}

// sameTree compares two folders: names, types, contents, modes, owners,
// file times and symlink targets.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.Walk(want, func(p string, wi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		gp := filepath.Join(got, rel)
		gi, err := os.Lstat(gp)
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		n++
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		ws, gs := wi.Sys().(*syscallStat), gi.Sys().(*syscallStat)
		if ws.Uid != gs.Uid || ws.Gid != gs.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, gs.Uid, gs.Gid, ws.Uid, ws.Gid)
		}
		switch {
		case wi.Mode()&os.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(gp)
			if wl != gl {
				t.Errorf("%s: symlink to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			if !wi.ModTime().Equal(gi.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(gp)
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: %d bytes restored differ from the %d of the original", rel, len(gb), len(wb))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries compared", n)
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syscallStat = syscall.Stat_t
