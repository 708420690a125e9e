package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
)

// TestRestoreWorkloads runs on a real node: a StatefulSet of two replicas
// whose claims come from its volumeClaimTemplates, and a Deployment of two
// pods that run as a non-root user and share one claim, are backed up,
// the namespace and the PV objects deleted, the volumes' files changed,
// and the whole restored into another namespace. Every pod starts on the
// backup's data: the StatefulSet's second pod too (the StatefulSet makes it
// only once the first is ready, after the controller began restoring), the
// shared claim is written once (the second pod's work item waits for the
// first's), and no restore marker is left in a volume the non-root pods
// cannot write to.
func TestRestoreWorkloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	e.startAgent(ctx, t)
	ns := e.appNamespace(ctx, t)

	// The volumes' folders: the data at the top (owned by root, 0755, so
	// that the non-root pods can read but not remove files there) and a
	// folder out/ where the pods record what they saw at start.
	folders := map[string]string{} // claim → folder
	for _, claim := range []string{"data-web-0", "data-web-1", "shared"} {
		dir := t.TempDir()
		must(t, os.Chmod(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(claim+" v1\n"), 0o644))
		must(t, os.Mkdir(filepath.Join(dir, "out"), 0o777))
		must(t, os.Chmod(filepath.Join(dir, "out"), 0o777))
		e.localVolume(ctx, t, ns, claim, dir)
		folders[claim] = dir
	}
	_, err := e.cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet(), metav1.CreateOptions{})
	must(t, err)
	_, err = e.cs.AppsV1().Deployments(ns).Create(ctx, sharedPair(), metav1.CreateOptions{})
	must(t, err)
	// started waits until the four pods of namespace ns run and recorded
	// what they saw, and returns that by pod name.
	started := func(ns string) map[string]string {
		t.Helper()
		out := map[string]string{}
		waitFor(ctx, t, 3*time.Minute, "the four pods in "+ns+" to start", func() bool {
			pods, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) != 4 {
				return false
			}
			for _, p := range pods.Items {
				claim := "shared"
				if strings.HasPrefix(p.Name, "web-") {
					claim = "data-" + p.Name
				}
				out[p.Name] = read(filepath.Join(folders[claim], "out", "seen-"+string(p.UID)))
				if p.Status.Phase != corev1.PodRunning || out[p.Name] == "" {
					return false
				}
			}
			return true
		})
		return out
	}
	started(ns)

	b, items := e.backup(ctx, t, "wl-1", nil, ns)
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 3 {
		t.Fatalf("backup: phase %s (%s), volumes %+v, items %v", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes, keys(items))
	}

	// Disaster: the namespace and the PV objects go; the folders stay, with
	// the data changed since the backup.
	for _, dir := range folders {
		must(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("changed\n"), 0o644))
	}
	must(t, e.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	waitFor(ctx, t, 2*time.Minute, "the namespace to be deleted", func() bool {
		_, err := e.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	for claim := range folders {
		pv := ns + "-" + claim
		must(t, e.cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}))
		waitFor(ctx, t, time.Minute, "PV "+pv+" to be deleted", func() bool {
			_, err := e.cs.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	}

	target := ns + "-r"
	t.Cleanup(func() { _ = e.cs.CoreV1().Namespaces().Delete(context.Background(), target, metav1.DeleteOptions{}) })
	r := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "wl-r", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{BackupName: "wl-1", NamespaceMapping: map[string]string{ns: target}}}
	must(t, e.cl.Create(ctx, r))
	reconcile(ctx, t, e.rs.Restore, e.ns, "wl-r")
	must(t, e.cl.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: "wl-r"}, r))
	var prs cairnv1.PodVolumeRestoreList
	must(t, e.cl.List(ctx, &prs, client.InNamespace(e.ns)))
	from := 0
	for _, p := range prs.Items {
		t.Logf("PodVolumeRestore %s: pod %s volume %s dataFrom %q: %s: %s", p.Name, p.Spec.Pod.Name, p.Spec.Volume, p.Spec.DataFrom, p.Status.Phase, p.Status.Message)
		if p.Spec.DataFrom != "" {
			from++
			if !strings.Contains(p.Status.Message, "written by "+p.Spec.DataFrom) {
				t.Errorf("work item %s waited for %s but says %q", p.Name, p.Spec.DataFrom, p.Status.Message)
			}
		}
	}
	if r.Status.Phase != cairnv1.PhaseCompleted || r.Status.Volumes == nil || r.Status.Volumes.Completed != 4 {
		t.Fatalf("restore: phase %s (%s), volumes %+v, failures %v", r.Status.Phase, r.Status.FailureReason, r.Status.Volumes, r.Status.Failures)
	}
	if from != 1 || len(prs.Items) != 4 {
		t.Errorf("%d work items, %d of them waiting for another's data; want 4 and 1 (the shared claim written once)", len(prs.Items), from)
	}
	for pod, got := range started(target) {
		claim := "shared"
		if strings.HasPrefix(pod, "web-") {
			claim = "data-" + pod
		}
		if want := claim + " v1"; got != want {
			t.Errorf("restored pod %s saw %q in hello.txt at start, want the backup's %q", pod, got, want)
		}
	}
	for claim, dir := range folders {
		if got, want := read(filepath.Join(dir, "hello.txt")), claim+" v1"; got != want {
			t.Errorf("%s: hello.txt is %q, want the backup's %q", claim, got, want)
		}
	}
	// A pod made after the restore ended (a replacement for one that died)
	// keeps the init container from the template: the agent releases it at
	// once instead of letting it wait for its deadline.
	pods, err := e.cs.CoreV1().Pods(target).List(ctx, metav1.ListOptions{LabelSelector: "app=pair"})
	must(t, err)
	gone := pods.Items[0]
	must(t, e.cs.CoreV1().Pods(target).Delete(ctx, gone.Name, metav1.DeleteOptions{}))
	var late corev1.Pod
	waitFor(ctx, t, 90*time.Second, "a replacement pod to run", func() bool {
		pods, err := e.cs.CoreV1().Pods(target).List(ctx, metav1.ListOptions{LabelSelector: "app=pair"})
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			if p.Name != gone.Name && p.UID != "" && p.Status.Phase == corev1.PodRunning && p.CreationTimestamp.After(gone.CreationTimestamp.Time) {
				late = p
				return true
			}
		}
		return false
	})
	deadline := waitDeadline(t, &late)
	appStart := late.Status.StartTime.Time
	for _, s := range late.Status.ContainerStatuses {
		if s.State.Running != nil {
			appStart = s.State.Running.StartedAt.Time
		}
	}
	t.Logf("replacement pod %s created %s, app started %s, the init container's deadline %s",
		late.Name, late.CreationTimestamp.Format(time.TimeOnly), appStart.Format(time.TimeOnly), deadline.Format(time.TimeOnly))
	if !appStart.Before(deadline.Add(-20 * time.Second)) {
		t.Errorf("the replacement pod started at %s, near its deadline %s: it was not released", appStart, deadline)
	}

	// The pair's init containers could not remove their markers (the top
	// folder is root's); the agent does once they ended.
	waitFor(ctx, t, 30*time.Second, "no restore marker left in the volumes", func() bool {
		for _, dir := range folders {
			if len(glob(dir, podvolume.MarkerGlob)) > 0 {
				return false
			}
		}
		return true
	})
}

// waitDeadline returns the deadline in pod's restore-wait init container.
func waitDeadline(t *testing.T, pod *corev1.Pod) time.Time {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name != podvolume.InitContainerName || len(c.Command) == 0 {
			continue
		}
		m := regexp.MustCompile(`d=(\d+);`).FindStringSubmatch(c.Command[len(c.Command)-1])
		if m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return time.Unix(n, 0)
		}
	}
	t.Fatalf("pod %s has no restore-wait init container with a deadline", pod.Name)
	return time.Time{}
}

func glob(dir, pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return m
}

// recorder is a container that records what /data/hello.txt held when it
// started in /data/out/seen-<pod uid>.
func recorder() corev1.Container {
	return corev1.Container{
		Name: "app", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
		Env:          []corev1.EnvVar{{Name: "POD_UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}}},
		Command:      []string{"/bin/sh", "-c", "cat /data/hello.txt > /data/out/seen-$POD_UID; exec sleep 3600"},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
	}
}

// statefulSet is "web": two replicas made in order, each with its claim
// data-web-<ordinal> from the template "data".
func statefulSet() *appsv1.StatefulSet {
	labels := map[string]string{"app": "web"}
	class := kubetest.LocalStorageClass
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(int32(2)), ServiceName: "web",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork: true, TerminationGracePeriodSeconds: ptr.To(int64(1)),
					Containers: []corev1.Container{recorder()},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &class,
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// sharedPair is "pair": two pods, as user 1000, sharing the claim "shared".
func sharedPair() *appsv1.Deployment {
	labels := map[string]string{"app": "pair"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pair"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork: true, TerminationGracePeriodSeconds: ptr.To(int64(1)),
					SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(1000))},
					Containers:      []corev1.Container{recorder()},
					Volumes:         []corev1.Volume{pvcVolume("data", "shared")},
				},
			},
		},
	}
}
