package kubetest_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestControlPlane starts etcd, kube-apiserver and kube-controller-manager and
// checks that the controllers work: a namespace finishes deleting, a
// Deployment gets a ReplicaSet, and deleting the Deployment garbage-collects
// the ReplicaSet.
func TestControlPlane(t *testing.T) {
	begin := time.Now()
	c := kubetest.Start(t, kubetest.WithControllerManager())
	took := time.Since(begin)
	t.Logf("control plane (etcd + kube-apiserver + kube-controller-manager) started in %s at %s", took.Round(time.Millisecond), c.Config.Host)
	fmt.Printf("kubetest: control plane with controller manager started in %s\n", took.Round(time.Millisecond))

	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", v.GitVersion)

	t.Run("namespace deletion finishes", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("doomed").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, 60*time.Second, "namespace doomed to be gone", func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
			return apierrors.IsNotFound(err), ignoreNotFound(err)
		})
		t.Logf("namespace deleted in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("deployment gets a replicaset which is garbage-collected", func(t *testing.T) {
		ns := c.Namespace(t)
		labels := map[string]string{"app": "web"}
		replicas := int32(1)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "web", Image: "busybox", ImagePullPolicy: corev1.PullNever,
					}}},
				},
			},
		}
		d, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var rsName string
		waitFor(ctx, t, 60*time.Second, "a ReplicaSet owned by the Deployment", func(ctx context.Context) (bool, error) {
			list, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, rs := range list.Items {
				if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
					rsName = rs.Name
					return true, nil
				}
			}
			return false, nil
		})
		t.Logf("ReplicaSet %s created in %s", rsName, time.Since(start).Round(time.Millisecond))

		start = time.Now()
		background := metav1.DeletePropagationBackground
		if err := cs.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, 60*time.Second, "the ReplicaSet to be garbage-collected", func(ctx context.Context) (bool, error) {
			_, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, rsName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), ignoreNotFound(err)
		})
		t.Logf("ReplicaSet garbage-collected in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("admin kubeconfig file works", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kc.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSharedLimitedUser uses the shared control plane (no controller manager)
// and a user whose rights come only from RBAC.
func TestSharedLimitedUser(t *testing.T) {
	c := kubetest.Shared(t)
	t.Logf("shared control plane started in %s", kubetest.SharedStartup().Round(time.Millisecond))
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	user, err := kubernetes.NewForConfig(c.UserConfig(t, "alice", "backup-operators"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing config maps without a role: got %v, want Forbidden", err)
	}

	admin := c.Clientset(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "cm-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cm-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "cm-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "backup-operators"}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, 30*time.Second, "the role binding to take effect", func(ctx context.Context) (bool, error) {
		_, err := user.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		return err == nil, err
	})
	if _, err := user.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing secrets with only the config map role: got %v, want Forbidden", err)
	}

	path := c.UserKubeconfig(t, "bob")
	if data, err := os.ReadFile(path); err != nil || !strings.Contains(string(data), "client-certificate-data") {
		t.Fatalf("user kubeconfig %s: %v", path, err)
	}
}

// TestRequireReal checks the skip-or-fail decision without any binary.
func TestRequireReal(t *testing.T) {
	for _, tc := range []struct {
		env      string
		wantFail bool
	}{{"", false}, {"0", false}, {"1", true}} {
		t.Run("CAIRN_REQUIRE_REAL="+tc.env, func(t *testing.T) {
			t.Setenv(kubetest.EnvRequireReal, tc.env)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() { // RequireReal ends the goroutine like Skip/Fatal do
				defer close(done)
				kubetest.RequireReal(r, "frobnicator")
			}()
			<-done
			msg := r.skipped
			if tc.wantFail {
				msg = r.failed
			}
			if (r.failed != "") != tc.wantFail || (r.skipped != "") == tc.wantFail {
				t.Fatalf("failed=%q skipped=%q, want fail=%v", r.failed, r.skipped, tc.wantFail)
			}
			if !strings.Contains(msg, "frobnicator") || !strings.Contains(msg, "make tools") {
				t.Fatalf("message %q should name the component and `make tools`", msg)
			}
		})
	}
}

type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
