package velerotest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

var (
	daemonSetGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	podGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// hostPods is where Velero's node agent reads the pods' volumes: its
// DaemonSet mounts the kubelet's pods folder there, and the path is fixed
// in Velero (pkg/nodeagent: HostPodVolumeMountPath), no flag moves it.
const hostPods = "/host_pods"

// Image is the Velero image the node runs Velero's data-path pods from:
// busybox and the static velero binary at /velero (hack/tools/image,
// velero.tar, built by `make node-deps` once `make tools` built velero).
// Pass it to kubetest.WithNodeImage.
var Image = kubetest.Image{Tarball: "velero.tar", Ref: "cairn.local/velero:1"}

// testFiles is where, in Velero's data-path pods, the kubeconfig and the
// S3 credentials are (a hostPath volume of the node-agent DaemonSet, which
// those pods inherit).
const testFiles = "/cairn-velerotest"

// StartNodeAgent runs Velero's node agent (`velero node-agent server`,
// which does the file-system backups of pod volumes with kopia) on c's
// node n as its DaemonSet's pod would, but as a process of the host:
//
//   - in the node's network namespace (n must be started with
//     kubetest.WithNodeNetwork): its controller manager, like the
//     server's, binds :8080, which the server holds on the host. The API
//     server is reached there through the node's own forwarder, the S3
//     server through one added here (Node.Forward);
//   - in a mount namespace of its own (unshare --mount, mounts slave to
//     the host's), where the node's pods folder (n.PodsDir, under the
//     test's temp dirs) is bind-mounted, with the volumes mounted in it,
//     at /host_pods, the fixed path where Velero looks for a pod's volume
//     (/host_pods/<pod-uid>/volumes/<plugin>/<volume or PV>). The mount
//     is seen by that process alone; on the host /host_pods is only an
//     empty folder (made when missing, left in place);
//   - with NODE_NAME (how the agent knows its node), the server's
//     kubeconfig and the same AWS credentials file as the server.
//
// The agent does not read a volume itself: for each PodVolumeBackup it
// creates a pod on the volume's node (Velero's pod-volume exposer) that
// runs `/velero pod-volume backup` and writes the data with kopia into
// the bucket. That pod inherits, from the node-agent DaemonSet's pod
// template, its image, environment, volumes and DNS policy; so the
// DaemonSet created here names Image (n must import it:
// kubetest.WithNodeImage(Image)), the kubelet's pods folder as its
// host-pods volume (Velero maps /host_pods back to that host path for the
// pod's volume), and a hostPath folder with the kubeconfig and the S3
// credentials, named by KUBECONFIG and AWS_SHARED_CREDENTIALS_FILE. What
// it cannot inherit, host networking, a mutating webhook of the test
// adds to every pod created in Velero's namespace (hostNetworkWebhook).
//
// The server's backup asks two more things of the cluster before it
// hands a volume to an agent: that the DaemonSet exists in Velero's
// namespace, and that a Running pod labelled role=node-agent is on the
// pod's node. The DaemonSet selects no node (it runs nothing), and the
// pod is a busybox sleeping on n.
// Start the agent once the volumes to back up are mounted (pods Running).
// It is stopped when the test ends.
func (s *Server) StartNodeAgent(c *kubetest.Cluster) {
	t := s.t
	t.Helper()
	n := c.Node
	if n == nil || n.Netns == "" {
		t.Fatal("velerotest: StartNodeAgent needs a node in its own network namespace (kubetest.WithNodeNetwork)")
	}
	ctx := context.Background()
	s.podsPatched = hostNetworkWebhook(t, c.Config, Namespace)

	files := t.TempDir()
	for name, from := range map[string]string{"kubeconfig": s.kubeconfig, "aws-credentials": s.creds} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(files, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nothing := map[string]any{"velero-test": "no-node-has-this-label"}
	// The DaemonSet would adopt, and delete, a pod its selector matched:
	// the stand-in has Velero's role label only.
	dsLabels := map[string]any{"name": "node-agent"}
	labels := map[string]any{"role": "node-agent"}
	env := []any{
		map[string]any{"name": "NODE_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "spec.nodeName"}}},
		map[string]any{"name": "VELERO_NAMESPACE", "value": Namespace},
		map[string]any{"name": "KUBECONFIG", "value": testFiles + "/kubeconfig"},
		map[string]any{"name": "AWS_SHARED_CREDENTIALS_FILE", "value": testFiles + "/aws-credentials"},
		map[string]any{"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
		map[string]any{"name": "HOME", "value": "/root"},
	}
	propagation := "HostToContainer"
	if _, err := s.dyn.Resource(daemonSetGVR).Namespace(Namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "DaemonSet",
		"metadata": map[string]any{"name": "node-agent", "namespace": Namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": dsLabels},
			"template": map[string]any{"metadata": map[string]any{"labels": dsLabels},
				"spec": map[string]any{"nodeSelector": nothing, "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet",
					"containers": []any{map[string]any{"name": "node-agent", "image": Image.Ref, "imagePullPolicy": "Never",
						"command": []any{"/velero"}, "args": []any{"node-agent", "server", "--log-level", "info"},
						"env": env,
						"volumeMounts": []any{
							map[string]any{"name": "host-pods", "mountPath": hostPods, "mountPropagation": propagation},
							map[string]any{"name": "cairn-velerotest", "mountPath": testFiles, "readOnly": true},
						}}},
					"volumes": []any{
						map[string]any{"name": "host-pods", "hostPath": map[string]any{"path": n.PodsDir}},
						map[string]any{"name": "cairn-velerotest", "hostPath": map[string]any{"path": files}},
					}}},
		},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.dyn.Resource(podGVR).Namespace(Namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "node-agent-" + n.Name, "namespace": Namespace, "labels": labels},
		"spec": map[string]any{"nodeName": n.Name, "hostNetwork": true, "terminationGracePeriodSeconds": int64(0),
			"containers": []any{map[string]any{"name": "node-agent", "image": kubetest.BusyboxImage, "imagePullPolicy": "Never",
				"command": []any{"sleep", "3600"}}}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the node-agent stand-in pod Running", func() error {
		p, err := s.dyn.Resource(podGVR).Namespace(Namespace).Get(ctx, "node-agent-"+n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if phase, _, _ := unstructured.NestedString(p.Object, "status", "phase"); phase != "Running" {
			return fmt.Errorf("phase %q", phase)
		}
		return nil
	})
	t.Cleanup(func() {
		grace := int64(0)
		_ = s.dyn.Resource(podGVR).Namespace(Namespace).Delete(context.Background(), "node-agent-"+n.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		_ = s.dyn.Resource(daemonSetGVR).Namespace(Namespace).Delete(context.Background(), "node-agent", metav1.DeleteOptions{})
	})

	u, err := url.Parse(s.s3)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Forward(u.Host); err != nil {
		t.Fatalf("velerotest: the S3 server inside the node's network namespace: %v", err)
	}
	if err := os.MkdirAll(hostPods, 0o755); err != nil {
		t.Fatalf("velerotest: %s (the node agent's fixed mount point): %v", hostPods, err)
	}
	dir := t.TempDir()
	script := `mount --rbind "$0" ` + hostPods + ` && exec "$@"`
	cmd := exec.Command("nsenter", "--net="+n.Netns, "--",
		"unshare", "--mount", "--propagation", "slave", "--",
		"/bin/sh", "-c", script, n.PodsDir,
		s.velero, "node-agent", "server", "--kubeconfig", s.kubeconfig, "--namespace", Namespace,
		"--metrics-address", "127.0.0.1:0", "--log-level", "info")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr, cmd.Dir = out, out, dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin", "HOME=" + dir, "TMPDIR=" + dir, "NODE_NAME=" + n.Name,
		"AWS_SHARED_CREDENTIALS_FILE=" + s.creds, "AWS_EC2_METADATA_DISABLED=true",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("velerotest: start velero node-agent server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("velero node-agent output (tail):\n%s", tail(out.String(), 60))
			}
		})
	}
	t.Cleanup(stop)
	// The agent is up once its controllers run.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "Starting workers") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("velero node-agent exited: %v\n%s", err, tail(out.String(), 40))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("velero node-agent not started after 1 min\n%s", tail(out.String(), 40))
		}
	}
	s.agentLog = out
}

// PodsPatched is how many pods the host-network webhook patched so far
// (Velero's data-path pods, the node-agent stand-in); 0 before
// StartNodeAgent.
func (s *Server) PodsPatched() int64 {
	if s.podsPatched == nil {
		return 0
	}
	return s.podsPatched()
}

// AgentLog returns what the node agent printed so far.
func (s *Server) AgentLog() string {
	if s.agentLog == nil {
		return ""
	}
	return s.agentLog.String()
}
