package kubetest_test

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
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestNode starts a control plane with a real node and runs a Deployment
// whose pod writes into a local PersistentVolume and an emptyDir; the files
// must show up where the node agent reads them, under the kubelet's pods
// folder.
func TestNode(t *testing.T) {
	begin := time.Now()
	c := kubetest.Start(t, kubetest.WithNode())
	took := time.Since(begin)
	n := c.Node
	t.Logf("cluster with node %s started in %s (node: %s); kubelet root %s", n.Name, took.Round(time.Millisecond), n.StartedIn.Round(time.Millisecond), n.KubeletRoot)
	fmt.Printf("kubetest: control plane + scheduler + node started in %s (node part %s)\n", took.Round(time.Millisecond), n.StartedIn.Round(time.Millisecond))

	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	vol := n.LocalVolume(t, ns, "data")

	token := rand.String(12)
	script := strings.Join([]string{
		"echo pv-" + token + " > /pv/hello.txt",
		"mkdir -p /scratch/sub && echo ed-" + token + " > /scratch/sub/hello.txt",
		"sync",
		"exec sleep 3600",
	}, " && ")
	labels := map[string]string{"app": "writer"}
	replicas := int32(1)
	grace := int64(1)
	d := &appsv1.Deployment{
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
						Name:            "writer",
						Image:           kubetest.BusyboxImage,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"/bin/sh", "-c", script},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "pv", MountPath: "/pv"},
							{Name: "scratch", MountPath: "/scratch"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "pv", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vol.PVC}}},
						{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	created := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var pod corev1.Pod
	waitFor(ctx, t, 90*time.Second, "the Deployment's pod to run", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=writer"})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = pods.Items[0]
		for _, st := range pod.Status.ContainerStatuses {
			if w := st.State.Waiting; w != nil && (w.Reason == "ErrImageNeverPull" || w.Reason == "CreateContainerError") {
				return false, fmt.Errorf("container %s: %s: %s", st.Name, w.Reason, w.Message)
			}
		}
		return pod.Status.Phase == corev1.PodRunning, nil
	})
	running := time.Since(created)
	if pod.Spec.NodeName != n.Name {
		t.Fatalf("pod on node %q, want %q", pod.Spec.NodeName, n.Name)
	}

	files := map[string]string{
		filepath.Join(n.VolumeDir(pod.UID, kubetest.PluginLocal, vol.PV), "hello.txt"):              "pv-" + token,
		filepath.Join(n.VolumeDir(pod.UID, kubetest.PluginEmptyDir, "scratch"), "sub", "hello.txt"): "ed-" + token,
		filepath.Join(vol.Path, "hello.txt"):                                                        "pv-" + token, // the PV's own folder
	}
	waitFor(ctx, t, 30*time.Second, "the pod's files on the host", func(context.Context) (bool, error) {
		for path, want := range files {
			data, err := os.ReadFile(path)
			if err != nil || strings.TrimSpace(string(data)) != want {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("pod %s running %s after the Deployment was created; files read from the host:", pod.Name, running.Round(time.Millisecond))
	for path := range files {
		t.Logf("  %s", path)
	}
	fmt.Printf("kubetest: Deployment with a local PV and an emptyDir running in %s\n", running.Round(time.Millisecond))

	t.Run("deleting the pod unmounts its volume and keeps the data", func(t *testing.T) {
		begin := time.Now()
		if err := cs.AppsV1().Deployments(ns).Delete(ctx, "writer", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, 60*time.Second, "the pod to be gone", func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), ignoreNotFound(err)
		})
		// The kubelet removes the pod's folder (its volumes unmounted) in
		// its housekeeping, a few seconds after the pod is gone.
		waitFor(ctx, t, 30*time.Second, "the kubelet to remove the pod's folder", func(context.Context) (bool, error) {
			_, err := os.Stat(filepath.Join(n.PodsDir, string(pod.UID)))
			return os.IsNotExist(err), nil
		})
		data, err := os.ReadFile(filepath.Join(vol.Path, "hello.txt"))
		if err != nil || strings.TrimSpace(string(data)) != "pv-"+token {
			t.Errorf("the PV's data after the pod was deleted: %q, %v", data, err)
		}
		t.Logf("pod deleted and cleaned up in %s", time.Since(begin).Round(time.Millisecond))
	})
}

// TestNodeNetwork runs the node in a network namespace of its own
// (WithNodeNetwork) and checks what needs the API server to reach the
// kubelet: exec into a container and read its logs.
func TestNodeNetwork(t *testing.T) {
	begin := time.Now()
	c := kubetest.Start(t, kubetest.WithNode(kubetest.WithNodeNetwork()))
	n := c.Node
	t.Logf("cluster with node %s (%s in %s) started in %s", n.Name, n.IP, n.Netns, time.Since(begin).Round(time.Millisecond))

	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shell"},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            "shell",
				Image:           kubetest.BusyboxImage,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", "echo started-up; exec sleep 3600"},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, 90*time.Second, "the pod to run", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "shell", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})

	t.Run("logs", func(t *testing.T) {
		data, err := cs.CoreV1().Pods(ns).GetLogs("shell", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || strings.TrimSpace(string(data)) != "started-up" {
			t.Fatalf("logs: %q, %v", data, err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("shell").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{
				Container: "shell",
				Command:   []string{"/bin/sh", "-c", "echo hello from $(cat /proc/1/comm) > /tmp/x && cat /tmp/x"},
				Stdout:    true,
				Stderr:    true,
			}, scheme.ParameterCodec)
		exec, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr strings.Builder
		if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
			t.Fatalf("exec: %v (stderr %q)", err, stderr.String())
		}
		if got := strings.TrimSpace(stdout.String()); got != "hello from sleep" {
			t.Fatalf("exec output %q, want %q", got, "hello from sleep")
		}
	})
}
