package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/requester/requestertest"
)

// TestSelfServiceOnNode is a namespace owner's restore, tried as such a
// user would: alice is admin of team-a only (a RoleBinding to the built-in
// admin role, which the chart's aggregated roles extend), with a
// kubeconfig of her own and the cairn CLI. The controller (with its
// admission webhook) and the agent run on the real node.
//   - `cairn ctl backup get -n team-a` lists the backup; `-n team-b` is
//     refused.
//   - Her Deployment with a PVC of data, and a ConfigMap, deleted, come
//     back with `cairn ctl restore create --from-backup … -n team-a -w`
//     (exit 0): the claim binds to a new volume and the agent writes the
//     backup's files into it before the app starts.
//   - A restore of everything fails for the RoleBinding to cluster-admin
//     the backup holds (the API server refuses the escalation to her) and
//     succeeds for the rest: exit 3, the binding named in the report.
//   - A restore into team-b, and one of a cluster-scoped type, are refused
//     with their reason (exit 1); team-b's objects are not touched.
func TestSelfServiceOnNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	teamA, teamB := e.appNamespace(ctx, t), e.appNamespace(ctx, t)
	e.chartRoles(ctx, t)
	alice := e.namespaceAdmin(ctx, t, "alice", teamA)
	e.namespaceAdmin(ctx, t, "bob", teamB)

	// Her application, and a binding to cluster-admin an administrator made.
	vol, err := e.n.CreateLocalVolume(ctx, teamA, "data", t.TempDir(), "1Gi")
	must(t, err)
	token := utilrand.String(10)
	_, err = e.cs.AppsV1().Deployments(teamA).Create(ctx, writer(vol.PVC, token), metav1.CreateOptions{})
	must(t, err)
	for _, ns := range []string{teamA, teamB} {
		must(t, e.cl.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"owner": ns}}))
	}
	must(t, e.cl.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "escalate", Namespace: teamA},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: teamA}},
	}))
	runningPod(ctx, t, e.cs, teamA)
	waitFor(ctx, t, 30*time.Second, "the app's file", func() bool { return read(filepath.Join(vol.Path, "hello.txt")) == "pv-"+token })

	// The controller with its webhook, and the agent.
	key := make([]byte, 32)
	_, err = rand.Read(key)
	must(t, err)
	certDir, ca := requestertest.Cert(t)
	port := requestertest.FreePort(t)
	cctx, stopController := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		defer func() { t.Log("controller stopped") }()
		done <- controller.Run(cctx, e.c.Config, controller.ManagerOptions{
			Options: controller.Options{Namespace: e.ns, VolumeTimeout: 3 * time.Minute, Recheck: 250 * time.Millisecond,
				RestoreWaitImage: kubetest.BusyboxImage, RequesterKey: key},
			Webhook:     webhook.NewServer(webhook.Options{Host: requestertest.Loopback, Port: port, CertDir: certDir}),
			MetricsAddr: "0", ProbeAddr: "0", Log: testr.New(t), SeveralInProcess: true,
		})
	}()
	t.Cleanup(func() {
		stopController()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	requestertest.Register(t, e.c.Config, port, ca, teamA, teamB)
	e.startAgent(ctx, t)

	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{teamA, teamB}}}
	must(t, e.cl.Create(ctx, b))
	waitItem(ctx, t, e.cl, b, 3*time.Minute, "the backup", func(b *cairnv1.Backup) bool { return b.Status.Phase.Finished() })
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 2 {
		t.Fatalf("backup: %s (%s), volumes %+v", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
	}

	// What alice sees.
	waitFor(ctx, t, 30*time.Second, "the backup's view in team-a", func() bool {
		code, out := ctl(ctx, t, alice, "backup", "get", "-n", teamA)
		return code == 0 && strings.Contains(out, "nightly")
	})
	if code, out := ctl(ctx, t, alice, "backup", "get", "-n", teamB); code == 0 || !strings.Contains(strings.ToLower(out), "forbidden") {
		t.Errorf("alice lists team-b's backups: exit %d\n%s", code, out)
	}

	// The disaster: her objects deleted (the claim's volume with them: a
	// new one waits for the restored claim).
	fg := metav1.DeletePropagationForeground
	must(t, e.cs.AppsV1().Deployments(teamA).Delete(ctx, "writer", metav1.DeleteOptions{PropagationPolicy: &fg}))
	must(t, e.cs.CoreV1().ConfigMaps(teamA).Delete(ctx, "settings", metav1.DeleteOptions{}))
	must(t, e.cs.RbacV1().RoleBindings(teamA).Delete(ctx, "escalate", metav1.DeleteOptions{}))
	waitFor(ctx, t, 2*time.Minute, "the app's pods to go", func() bool {
		pods, err := e.cs.CoreV1().Pods(teamA).List(ctx, metav1.ListOptions{LabelSelector: "app=writer"})
		return err == nil && len(pods.Items) == 0
	})
	must(t, e.cs.CoreV1().PersistentVolumeClaims(teamA).Delete(ctx, "data", metav1.DeleteOptions{}))
	waitFor(ctx, t, time.Minute, "the claim to go", func() bool {
		_, err := e.cs.CoreV1().PersistentVolumeClaims(teamA).Get(ctx, "data", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	fresh := e.n.LocalPV(t, teamA, "data", teamA+"-data-new")

	// Her restore, without the RBAC objects: everything comes back.
	code, out := ctl(ctx, t, alice, "restore", "create", "back", "--from-backup", "nightly", "-n", teamA,
		"--exclude-resources", "rolebindings.rbac.authorization.k8s.io,roles.rbac.authorization.k8s.io", "-w")
	if code != 0 {
		t.Fatalf("alice's restore: exit %d\n%s", code, out)
	}
	var cm corev1.ConfigMap
	must(t, e.cl.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "settings"}, &cm))
	if cm.Data["owner"] != teamA {
		t.Errorf("restored config map: %v", cm.Data)
	}
	runningPod(ctx, t, e.cs, teamA)
	for path, want := range map[string]string{
		filepath.Join(fresh, "hello.txt"):            "pv-" + token, // the backup's data, in the new volume
		filepath.Join(fresh, "seen-pv-at-start.txt"): "pv-" + token, // ...before the app started
	} {
		waitFor(ctx, t, 30*time.Second, path, func() bool { return read(path) == want })
	}
	var nr cairnv1.NamespaceRestore
	must(t, e.cl.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "back"}, &nr))
	if nr.Spec.Requester.Username != "alice-"+teamA || nr.Status.Volumes == nil || nr.Status.Volumes.Completed != 2 {
		t.Errorf("alice's request: requester %q, volumes %+v", nr.Spec.Requester.Username, nr.Status.Volumes)
	}

	// Everything (the ConfigMap deleted again): the binding to
	// cluster-admin is refused to her, the rest is restored.
	must(t, e.cs.CoreV1().ConfigMaps(teamA).Delete(ctx, "settings", metav1.DeleteOptions{}))
	code, out = ctl(ctx, t, alice, "restore", "create", "all", "--from-backup", "nightly", "-n", teamA, "-w")
	if code != 3 || !strings.Contains(out, "escalate") || !strings.Contains(out, "1 created") {
		t.Errorf("alice's restore of everything: exit %d, want 3 naming the RoleBinding escalate, the ConfigMap created\n%s", code, out)
	}
	must(t, e.cl.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "settings"}, &cm))
	if _, err := e.cs.RbacV1().RoleBindings(teamA).Get(ctx, "escalate", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the RoleBinding to cluster-admin: %v, want not restored", err)
	}

	// Refused requests.
	for _, tc := range []struct {
		args  []string
		words string
	}{
		{[]string{"--namespace-mapping", teamA + "=" + teamB}, "may not create NamespaceRestores in namespace " + teamB},
		{[]string{"--include-resources", "persistentvolumes"}, "cluster-scoped"},
	} {
		args := append([]string{"restore", "create", "--from-backup", "nightly", "-n", teamA, "-w"}, tc.args...)
		if code, out := ctl(ctx, t, alice, args...); code != 1 || !strings.Contains(out, tc.words) {
			t.Errorf("%v: exit %d, want 1 with %q\n%s", tc.args, code, tc.words, out)
		}
	}
	var other corev1.ConfigMap
	must(t, e.cl.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "settings"}, &other))
	if other.Labels[cairnv1.LabelRestore] != "" {
		t.Errorf("team-b's config map was restored over: %v", other.Labels)
	}
}

// ctl runs `cairn ctl ARGS` with kubeconfig and returns the exit code and
// what it printed.
func ctl(ctx context.Context, t *testing.T, kubeconfig string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Run(ctx, append([]string{"ctl", "--kubeconfig", kubeconfig}, args...), strings.NewReader(""), &out, &out, func(string) string { return "" })
	t.Logf("cairn ctl %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	return code, out.String()
}

// namespaceAdmin makes a client-certificate user admin of ns (a
// RoleBinding to the built-in admin ClusterRole) and returns the path of
// their kubeconfig.
func (e *env) namespaceAdmin(ctx context.Context, t *testing.T, name, ns string) string {
	t.Helper()
	user := name + "-" + ns
	must(t, e.cl.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-admin", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}))
	return e.c.UserKubeconfig(t, user)
}

// chartRoles applies the chart's aggregated ClusterRoles (rendered by
// helm), and waits until kube-controller-manager has aggregated them into
// the built-in admin role.
func (e *env) chartRoles(ctx context.Context, t *testing.T) {
	t.Helper()
	helm := kubetest.Tool(t, "helm")
	release := "cairn-" + e.ns
	cmd := exec.CommandContext(ctx, helm, "template", release, filepath.Join("..", "..", "deploy", "helm", "cairn"), "--namespace", e.ns, "--kube-version", "1.34.0",
		"--set", "location.url=/backups", "--set", "location.passphraseSecret.name=pass", "--show-only", "templates/selfservice.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	n := 0
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm's output: %v", err)
		}
		if u.GetKind() != "ClusterRole" || u.GetLabels()["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" {
			continue
		}
		must(t, e.cl.Create(ctx, &u))
		t.Cleanup(func() { _ = e.cl.Delete(context.Background(), &u) })
		n++
	}
	if n == 0 {
		t.Fatalf("the chart renders no ClusterRole aggregated to admin:\n%s", rendered)
	}
	waitFor(ctx, t, time.Minute, "the admin role to include namespacerestores", func() bool {
		var admin rbacv1.ClusterRole
		if err := e.cl.Get(ctx, client.ObjectKey{Name: "admin"}, &admin); err != nil {
			return false
		}
		for _, r := range admin.Rules {
			for _, res := range r.Resources {
				if res == "namespacerestores" {
					for _, v := range r.Verbs {
						if v == "create" {
							return true
						}
					}
				}
			}
		}
		return false
	})
}
