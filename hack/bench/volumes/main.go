// Command volumes measures the node agent's pod volume backups (issue 5
// §6) on a real node: 8 volumes of 256 MiB made by package mkdata
// (seeds 1..8) are local PersistentVolumes of one pod; the agent backs
// them up, then again after mkdata.Mutate (2 %) on each. The same folders
// are backed up by the repository engine in-process (archiver.Run over
// the 8 folders into a repository of its own: the engine's own figure)
// and by restic, first and second backup alike. It prints a markdown table
// for docs/benchmarks.md.
//
//	go run ./hack/bench/volumes [-volumes 8] [-size 256] [-concurrency 2] [-keep]
//
// The agent path: kubetest.StartProcess with WithNode (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd and a kubelet; `make
// tools node-deps`), the agent in this process as its DaemonSet pod would
// run it, and one PodVolumeBackup per volume created directly (the work
// items the controller would create for a Backup; the controller's cluster
// backup, which takes well under a second here, is left out). The time is
// from creating the work items until the last is Completed. The datasets are
// made once under .cache/bench/volumes/pristine-SIZE-N and copied (cp -a)
// into the work directory for each run. The page cache is warm for every
// step.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/mkdata"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

const passphrase = "cairn-bench-volumes"

var cpuProfile string

func main() {
	volumes := flag.Int("volumes", 8, "number of volumes")
	size := flag.Int("size", 256, "size of each volume in MiB")
	concurrency := flag.Int("concurrency", agent.DefaultConcurrency, "the agent's volumes in parallel")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write CPU profiles of this process during the incremental backups: the agent's to `file`, the engine's to file.engine")
	flag.Parse()
	if err := run(*volumes, *size, *concurrency, *keep); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

// warm reads every file of dirs, so that each tool finds them in the page
// cache: this machine reclaims pages it has not used for a while (DAMON),
// and the first tool to read a cold dataset would pay for all.
func warm(dirs []string) error {
	buf := make([]byte, 1<<20)
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(io.Discard, f, buf)
			return err
		})
		if err != nil {
			return fmt.Errorf("warm %s: %w", d, err)
		}
	}
	return nil
}

// profile starts the CPU profile asked for with -cpuprofile (its file name
// + suffix), when on.
func profile(on bool, suffix string) (stop func(), err error) {
	if !on || cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(cpuProfile + suffix)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// result is one measured backup.
type result struct {
	seconds float64
	bytes   int64 // bytes in the snapshot(s)
	read    int64 // bytes read (cairn: Summary.BytesRead)
	// cpu is the CPU time of this process (engine, agent) or of restic;
	// busy is the share of the machine's CPU time in use meanwhile.
	cpu  time.Duration
	busy float64
}

// usage samples this process's CPU time and the machine's busy and total
// CPU ticks (/proc/stat), to compare what the engine and the agent cost
// with what the rest of the machine (the control plane, the kubelet) does
// meanwhile.
type usage struct {
	self        time.Duration
	busy, total int64
}

func sample() usage {
	var u usage
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line) {
		if i == 0 {
			continue // "cpu"
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		u.total += n
		if i != 4 && i != 5 { // idle, iowait
			u.busy += n
		}
	}
	return u
}

// since fills r's CPU figures from u to now; child is the CPU time of a
// child process (restic), which replaces this process's.
func (r *result) since(u usage, child time.Duration) {
	now := sample()
	r.cpu = now.self - u.self
	if child > 0 {
		r.cpu = child
	}
	if d := now.total - u.total; d > 0 {
		r.busy = float64(now.busy-u.busy) / float64(d)
	}
}

func (r result) mibs() float64 { return float64(r.bytes) / (1 << 20) / r.seconds }

func run(volumes, size, concurrency int, keep bool) error {
	// Ctrl-C and SIGTERM end the context, so that the cluster and the node
	// are stopped (their processes outlive this one otherwise).
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, 30*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("restic"); err != nil {
		return fmt.Errorf("restic not found (apt-get install restic)")
	}
	cacheDir, _ := filepath.Abs(filepath.Join(".cache", "bench", "volumes"))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(cacheDir, "run-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}

	// The datasets: made once, copied for each run.
	var dirs []string
	for i := 1; i <= volumes; i++ {
		pristine := filepath.Join(cacheDir, fmt.Sprintf("mkdata-%d-%d", size, i))
		if _, err := os.Stat(pristine); err != nil {
			log.Printf("making dataset %d of %d (%d MiB, seed %d)", i, volumes, size, i)
			if err := mkdata.Generate(pristine+".tmp", size, uint64(i)); err != nil {
				return err
			}
			if err := os.Rename(pristine+".tmp", pristine); err != nil {
				return err
			}
		}
		dir := filepath.Join(work, fmt.Sprintf("vol-%d", i))
		if out, err := exec.Command("cp", "-a", pristine, dir).CombinedOutput(); err != nil {
			return fmt.Errorf("cp: %v\n%s", err, out)
		}
		dirs = append(dirs, dir)
	}
	// Write the copies back before timing anything: otherwise the first
	// backup measured (the engine's) shares the CPUs and the disk with the
	// kernel's writeback of 4 GiB.
	if err := exec.Command("sync").Run(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}

	log.Printf("starting the control plane and the node")
	begin := time.Now()
	c, err := kubetest.StartProcess(filepath.Join(work, "cluster"), kubetest.WithNode())
	if err != nil {
		return err
	}
	defer c.Stop()
	log.Printf("node %s ready in %s", c.Node.Name, time.Since(begin).Round(100*time.Millisecond))
	a, err := newAgentPath(ctx, c, work, dirs, concurrency)
	if err != nil {
		return err
	}

	engineRepo := filepath.Join(work, "engine-repo")
	resticRepo := filepath.Join(work, "restic-repo")
	pwFile := filepath.Join(work, "restic-pass")
	if err := os.WriteFile(pwFile, []byte(passphrase), 0o600); err != nil {
		return err
	}
	if err := initRepo(ctx, engineRepo); err != nil {
		return err
	}
	if out, err := resticCmd(resticRepo, pwFile, "init").CombinedOutput(); err != nil {
		return fmt.Errorf("restic init: %v\n%s", err, out)
	}

	type row struct{ engine, agent, restic result }
	var rows [2]row
	var parent *snapshot.Snapshot
	for i, step := range []string{"first", "after --mutate 2"} {
		if i == 1 {
			for j, dir := range dirs {
				if err := mkdata.Mutate(dir, 2, uint64(j+1)); err != nil {
					return err
				}
			}
			if err := exec.Command("sync").Run(); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
		}
		log.Printf("%s backup: engine", step)
		if err := warm(dirs); err != nil {
			return err
		}
		var sn *snapshot.Snapshot
		stopProfile, err := profile(i == 1, ".engine")
		if err != nil {
			return err
		}
		rows[i].engine, sn, err = engineBackup(ctx, engineRepo, dirs, parent)
		stopProfile()
		if err != nil {
			return err
		}
		parent = sn
		log.Printf("%s backup: agent", step)
		if err := warm(dirs); err != nil {
			return err
		}
		stopProfile, err = profile(i == 1, "")
		if err != nil {
			return err
		}
		rows[i].agent, err = a.backup(ctx, fmt.Sprintf("bench-%d", i+1))
		stopProfile()
		if err != nil {
			return err
		}
		log.Printf("%s backup: restic", step)
		if err := warm(dirs); err != nil {
			return err
		}
		if rows[i].restic, err = resticBackup(resticRepo, pwFile, dirs, rows[i].engine.bytes); err != nil {
			return err
		}
	}

	fmt.Printf("\n%d volumes of %d MiB (mkdata seeds 1..%d), %d CPUs, %s; agent concurrency %d\n\n", volumes, size, volumes, runtime.NumCPU(), runtime.Version(), concurrency)
	fmt.Println("| backup | engine (archiver.Run, in-process) | agent (PodVolumeBackups on a real node) | restic | agent / engine | agent / restic |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for i, step := range []string{"first", "after `--mutate 2`"} {
		r := rows[i]
		ratio := r.agent.mibs() / r.engine.mibs()
		mark := "✓"
		if ratio < 0.8 {
			mark = "✗"
		}
		fmt.Printf("| %s | %.1f s, %.0f MiB/s | %.1f s, %.0f MiB/s | %.1f s, %.0f MiB/s | %.2f× %s | %.2f× |\n", step,
			r.engine.seconds, r.engine.mibs(), r.agent.seconds, r.agent.mibs(), r.restic.seconds, r.restic.mibs(), ratio, mark, r.agent.mibs()/r.restic.mibs())
	}
	fmt.Printf("\nThroughput is the volumes' total file bytes (%d MiB) over the wall time; target agent ≥ 0.8× the engine.\n", rows[0].engine.bytes>>20)
	fmt.Println("\nCPU time (engine and agent: this process; restic: its process) and the machine's CPUs in use meanwhile (the control plane, the kubelet and containerd share them):")
	fmt.Println()
	fmt.Println("| backup | engine CPU | agent CPU | restic CPU | agent / engine CPU | machine busy: engine, agent, restic |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	for i, step := range []string{"first", "after `--mutate 2`"} {
		r := rows[i]
		fmt.Printf("| %s | %.2f s | %.2f s | %.2f s | %.2f× | %.0f %%, %.0f %%, %.0f %% |\n", step,
			r.engine.cpu.Seconds(), r.agent.cpu.Seconds(), r.restic.cpu.Seconds(), r.agent.cpu.Seconds()/r.engine.cpu.Seconds(),
			100*r.engine.busy, 100*r.agent.busy, 100*r.restic.busy)
	}
	fmt.Printf("Bytes read (first / second): engine %d / %d MiB, agent %d / %d MiB.\n",
		rows[0].engine.read>>20, rows[1].engine.read>>20, rows[0].agent.read>>20, rows[1].agent.read>>20)
	return nil
}

func initRepo(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s, err := local.New(dir)
	if err != nil {
		return err
	}
	r, err := repo.Init(ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		return err
	}
	r.Close()
	return nil
}

func openRepo(ctx context.Context, dir string) (*repo.Repository, error) {
	s, err := local.New(dir)
	if err != nil {
		return nil, err
	}
	return repo.Open(ctx, s, []byte(passphrase), repo.Options{})
}

// engineBackup is the repository engine's own figure: one archiver.Run
// over the folders, incremental against parent.
func engineBackup(ctx context.Context, dir string, paths []string, parent *snapshot.Snapshot) (result, *snapshot.Snapshot, error) {
	r, err := openRepo(ctx, dir)
	if err != nil {
		return result{}, nil, err
	}
	defer r.Close()
	u, start := sample(), time.Now()
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: paths, Parent: parent, Program: "bench"})
	if err != nil {
		return result{}, nil, fmt.Errorf("engine backup: %w", err)
	}
	res := result{seconds: time.Since(start).Seconds(), bytes: sn.Summary.TotalBytes, read: sn.Summary.BytesRead}
	res.since(u, 0)
	return res, sn, nil
}

func resticCmd(repoDir, pwFile string, args ...string) *exec.Cmd {
	cmd := exec.Command("restic", append([]string{"-q", "-r", repoDir, "--password-file", pwFile}, args...)...)
	return cmd
}

// resticBackup backs the folders up with restic (its parent is the
// previous snapshot of the same paths).
func resticBackup(repoDir, pwFile string, dirs []string, bytes int64) (result, error) {
	u, start := sample(), time.Now()
	cmd := resticCmd(repoDir, pwFile, append([]string{"backup"}, dirs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("restic backup: %v\n%s", err, out)
	}
	res := result{seconds: time.Since(start).Seconds(), bytes: bytes}
	res.since(u, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	return res, nil
}

// agentPath is the node, the agent and one pod mounting the volumes.
type agentPath struct {
	cl      client.WithWatch
	ns      string // the agent's namespace
	node    string
	pod     *corev1.Pod
	claims  []string
	repoDir string
}

func newAgentPath(ctx context.Context, c *kubetest.Cluster, work string, dirs []string, concurrency int) (*agentPath, error) {
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		return nil, fmt.Errorf("CRDs: %w", err)
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	cl, err := client.NewWithWatch(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	a := &agentPath{cl: cl, ns: "cairn", node: c.Node.Name, repoDir: filepath.Join(work, "agent-repo")}
	for _, ns := range []string{a.ns, "bench"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if err := initRepo(ctx, a.repoDir); err != nil {
		return nil, err
	}
	if err := cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pass", Namespace: a.ns}, StringData: map[string]string{"passphrase": passphrase}}); err != nil {
		return nil, err
	}
	if err := cl.Create(ctx, &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: a.ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: a.repoDir, Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pass"}, Key: "passphrase"},
		},
	}); err != nil {
		return nil, err
	}

	// The volumes and the pod that mounts them.
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	// Created in parallel: the PV controller binds a claim within its
	// resync period (15 s), one after the other would take minutes.
	claims := make([]string, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Node.CreateLocalVolume(ctx, "bench", fmt.Sprintf("vol-%d", i+1), dir, "1Gi")
			claims[i], errs[i] = v.PVC, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a.claims = claims
	for i := range dirs {
		name := fmt.Sprintf("vol-%d", i+1)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claims[i]}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: "/data/" + name})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "bench"},
		Spec: corev1.PodSpec{
			HostNetwork: true, TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{
				Name: "db", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "exec sleep 36000"}, VolumeMounts: mounts,
			}},
			Volumes: vols,
		},
	}
	if _, err := cs.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	for {
		p, err := cs.CoreV1().Pods("bench").Get(ctx, "db", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			a.pod = p
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("the pod did not start: %v", ctx.Err())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The agent, as its DaemonSet pod would run it.
	ctrl.SetLogger(logr.Discard())
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{a.ns: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	if err := agent.Setup(mgr, agent.Options{Node: a.node, Namespace: a.ns, Root: c.Node.PodsDir, Concurrency: concurrency, ProgressInterval: time.Second}); err != nil {
		return nil, err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			log.Printf("agent: %v", err)
		}
	}()
	return a, nil
}

// backup creates one PodVolumeBackup per volume and waits until all are
// finished, watching them (a poll would add up to its interval to the
// time).
func (a *agentPath) backup(ctx context.Context, name string) (result, error) {
	w, err := a.cl.Watch(ctx, &cairnv1.PodVolumeBackupList{}, client.InNamespace(a.ns))
	if err != nil {
		return result{}, err
	}
	defer w.Stop()
	u, start := sample(), time.Now()
	index := map[string]int{}
	for i, claim := range a.claims {
		p := &cairnv1.PodVolumeBackup{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i+1), Namespace: a.ns},
			Spec: cairnv1.PodVolumeBackupSpec{
				BackupName: name, Node: a.node, Volume: fmt.Sprintf("vol-%d", i+1), PVC: claim, Owner: "Pod/db", StorageLocation: "default",
				Pod: cairnv1.PodRef{Namespace: "bench", Name: "db", UID: a.pod.UID},
			},
		}
		if err := a.cl.Create(ctx, p); err != nil {
			return result{}, err
		}
		index[p.Name] = i
	}
	// Until all are finished; a step in which no work item moves for
	// stallAfter is an error (the agent or the engine hangs).
	const stallAfter = 2 * time.Minute
	ids := make([]string, len(a.claims))
	last := map[string]string{}
	stall := time.NewTimer(stallAfter)
	defer stall.Stop()
	for left := len(ids); left > 0; {
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-stall.C:
			return result{}, fmt.Errorf("no work item of %s moved for %s (%v): the agent hangs", name, stallAfter, last)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return result{}, fmt.Errorf("the watch of the work items ended")
			}
			p, isItem := ev.Object.(*cairnv1.PodVolumeBackup)
			i, mine := 0, false
			if isItem {
				i, mine = index[p.Name]
			}
			if !mine || ids[i] != "" {
				continue
			}
			if st := fmt.Sprint(p.Status.Phase, p.Status.Progress); st != last[p.Name] {
				last[p.Name] = st
				stall.Reset(stallAfter)
			}
			switch p.Status.Phase {
			case cairnv1.VolumeFailed:
				return result{}, fmt.Errorf("%s failed: %s", p.Name, p.Status.Message)
			case cairnv1.VolumeCompleted:
				ids[i] = p.Status.SnapshotID
				left--
			}
		}
	}
	res := result{seconds: time.Since(start).Seconds()}
	res.since(u, 0)
	r, err := openRepo(ctx, a.repoDir)
	if err != nil {
		return res, err
	}
	defer r.Close()
	var parents []string
	for _, id := range ids {
		sn, err := snapshot.Load(ctx, r, id)
		if err != nil {
			return res, err
		}
		res.bytes += sn.Summary.TotalBytes
		res.read += sn.Summary.BytesRead
		if sn.Parent != "" {
			parents = append(parents, sn.Parent[:8])
		}
	}
	if len(parents) > 0 {
		log.Printf("%s: incremental against %s", name, strings.Join(parents, " "))
	}
	return res, nil
}
