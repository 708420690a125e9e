// Command demo is `make demo`: the main job on the embedded default. It
// starts a real local control plane (etcd, kube-apiserver,
// kube-controller-manager from .cache/bin), creates sample workloads, backs
// them up with the cairn CLI into a local repository, deletes the
// namespaces, restores, and shows what came back and what was skipped and
// why. Then, when a real node can start (`make node-deps`; see volumes.go),
// a stateful app with a local PV loses its namespace and its disk and is
// restored with its data by the controller and the node agent.
// Usage: go run ./hack/demo -cairn bin/cairn
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

func main() {
	cairn := flag.String("cairn", "bin/cairn", "the cairn binary")
	flag.Parse()
	if err := run(*cairn); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("\n\033[1m== "+format+"\033[0m\n", args...)
}

func run(cairnBin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cairnBin, _ = filepath.Abs(cairnBin)
	dir, err := os.MkdirTemp("", "cairn-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	say("Starting a local control plane (etcd, kube-apiserver, kube-controller-manager on 127.0.0.1)")
	start := time.Now()
	c, err := kubetest.StartProcess(filepath.Join(dir, "cluster"), kubetest.WithControllerManager())
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("ready in %s; kubeconfig %s\n", time.Since(start).Round(100*time.Millisecond), c.Kubeconfig)
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}

	say("Creating sample workloads")
	if err := createSamples(ctx, c, kc); err != nil {
		return err
	}
	fmt.Println(`namespaces shop and blog: deployments, services, config maps, secrets, a PVC bound to a PV
(StorageClass demo-local), a service account, a role and binding, and custom resources (widgets.demo.cairn.dev);
namespace analytics is labelled compliantkubernetes.io/nobackup (opt-out), and one config map in blog too`)

	repoDir := filepath.Join(dir, "repo")
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte("demo passphrase: choose your own"), 0o600); err != nil {
		return err
	}
	env := append(os.Environ(), "CAIRN_REPOSITORY="+repoDir, "CAIRN_PASSWORD_FILE="+pass, "KUBECONFIG="+c.Kubeconfig)
	cairn := func(args ...string) error {
		fmt.Printf("$ cairn %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, cairnBin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			fmt.Printf("(exit code %d)\n", ee.ExitCode())
			if ee.ExitCode() == 3 {
				return nil // partially failed: shown, not fatal for the demo
			}
		}
		return err
	}

	say("Creating an encrypted repository in a local directory")
	if err := cairn("repo", "init"); err != nil {
		return err
	}
	say("Backing up all user namespaces (the default scope), honouring the opt-out label")
	if err := cairn("backup", "run", "nightly-1", "--no-progress"); err != nil {
		return err
	}
	if err := cairn("backup", "describe", "nightly-1"); err != nil {
		return err
	}
	say("A second daily backup of the unchanged cluster deduplicates to almost nothing")
	if err := cairn("backup", "run", "nightly-2", "--no-progress", "-q"); err != nil {
		return err
	}
	if err := cairn("backup", "get"); err != nil {
		return err
	}

	say("Disaster: deleting namespaces shop, blog and analytics, and the StorageClass and PV")
	for _, ns := range []string{"shop", "blog", "analytics"} {
		if err := kc.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	if err := waitGone(ctx, kc, "shop", "blog", "analytics"); err != nil {
		return err
	}
	_ = kc.CoreV1().PersistentVolumes().Delete(ctx, "shop-data", metav1.DeleteOptions{})
	_ = kc.StorageV1().StorageClasses().Delete(ctx, "demo-local", metav1.DeleteOptions{})
	fmt.Println("namespaces are gone (the controller manager finished deleting them)")

	say("Someone recreated one config map meanwhile: restore must not overwrite it")
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blog"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := kc.CoreV1().ConfigMaps("blog").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"theme": "changed after the backup"}}, metav1.CreateOptions{}); err != nil {
		return err
	}

	say("Restoring from the backup (objects that exist are never overwritten)")
	if err := cairn("restore", "run", "--from-backup", "nightly-1"); err != nil {
		return err
	}

	say("What came back")
	for _, ns := range []string{"shop", "blog", "analytics"} {
		if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			fmt.Printf("namespace %-10s not restored: it was opted out of backups\n", ns)
			continue
		}
		deps, _ := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		cms, _ := kc.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		pvcs, _ := kc.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		fmt.Printf("namespace %-10s %d deployments, %d config maps, %d PVCs\n", ns, len(deps.Items), len(cms.Items), len(pvcs.Items))
	}
	cm, err := kc.CoreV1().ConfigMaps("blog").Get(ctx, "settings", metav1.GetOptions{})
	if err == nil {
		fmt.Printf("blog/settings kept its current content: theme=%q (skipped: exists, differs)\n", cm.Data["theme"])
	}
	if _, err := kc.CoreV1().ConfigMaps("blog").Get(ctx, "scratch", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		fmt.Println("blog/scratch not restored: it carries the opt-out label")
	}
	say("The evidence an auditor asks for: coverage per namespace, retention, protection, findings")
	page, err := filepath.Abs(filepath.Join("bin", "demo-report.html"))
	if err != nil {
		return err
	}
	if err := cairn("report", "--since", "1d", "--html", page); err != nil {
		return err
	}
	fmt.Printf("open %s in a browser for the full report\n", page)
	if err := volumeDemo(ctx, dir); err != nil {
		return fmt.Errorf("pod volumes: %w", err)
	}
	say("Done: everything ran against a real API server; the repository was %s", repoDir)
	return nil
}

func waitGone(ctx context.Context, kc *kubernetes.Clientset, names ...string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, ns := range names {
		for {
			_, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("namespace %s still exists after 2 minutes", ns)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}

func createSamples(ctx context.Context, c *kubetest.Cluster, kc *kubernetes.Clientset) error {
	mk := func(err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	// A CRD with custom resources.
	ax, err := apiext.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	crd := &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.demo.cairn.dev"},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "demo.cairn.dev", Scope: apiextv1.NamespaceScoped,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object",
					XPreserveUnknownFields: ptr(true)}}}},
		},
	}
	if _, err := ax.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); mk(err) != nil {
		return err
	}
	if err := waitEstablished(ctx, ax, crd.Name); err != nil {
		return err
	}
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "demo-local"}, Provisioner: "kubernetes.io/no-provisioner"}
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); mk(err) != nil {
		return err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "demo-local",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/cairn-demo-pv"}},
		},
	}
	if _, err := kc.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); mk(err) != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	widgets := schema.GroupVersionResource{Group: "demo.cairn.dev", Version: "v1", Resource: "widgets"}
	for _, ns := range []string{"shop", "blog", "analytics"} {
		labels := map[string]string{}
		if ns == "analytics" {
			labels["compliantkubernetes.io/nobackup"] = "true"
		}
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); mk(err) != nil {
			return err
		}
		app := map[string]string{"app": "web"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: app},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: app}, Spec: corev1.PodSpec{
					ServiceAccountName: "web",
					Containers: []corev1.Container{{Name: "web", Image: "cairn.local/busybox:1", Command: []string{"sleep", "3600"},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}}},
				}},
			},
		}
		objs := []error{
			ignore(kc.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{})),
			ignore(kc.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"theme": "dark", "ns": ns}}, metav1.CreateOptions{})),
			ignore(kc.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-credentials"}, StringData: map[string]string{"password": "s3cret-" + ns}}, metav1.CreateOptions{})),
			ignore(kc.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})),
			ignore(kc.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: app,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})),
			ignore(kc.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})),
			ignore(kc.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-reader"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: ns}}}, metav1.CreateOptions{})),
		}
		for _, err := range objs {
			if mk(err) != nil {
				return err
			}
		}
		w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "demo.cairn.dev/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "gizmo"}, "spec": map[string]any{"size": int64(3), "color": "teal"}}}
		if _, err := dyn.Resource(widgets).Namespace(ns).Create(ctx, w, metav1.CreateOptions{}); mk(err) != nil {
			return err
		}
	}
	if _, err := kc.CoreV1().ConfigMaps("blog").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scratch",
		Labels: map[string]string{"compliantkubernetes.io/nobackup": "true"}}, Data: map[string]string{"tmp": "x"}}, metav1.CreateOptions{}); mk(err) != nil {
		return err
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr("demo-local"), VolumeName: "shop-data",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := kc.CoreV1().PersistentVolumeClaims("shop").Create(ctx, pvc, metav1.CreateOptions{}); mk(err) != nil {
		return err
	}
	// Wait until the PV controller binds the claim.
	for i := 0; i < 120; i++ {
		got, err := kc.CoreV1().PersistentVolumeClaims("shop").Get(ctx, "data", metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.ClaimBound {
			fmt.Println("PVC shop/data is Bound to PV shop-data")
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("PVC shop/data did not bind within 60s")
}

func waitEstablished(ctx context.Context, ax *apiext.Clientset, name string) error {
	for i := 0; i < 100; i++ {
		crd, err := ax.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("CRD %s not established", name)
}

func ignore[T any](_ T, err error) error { return err }

func ptr[T any](v T) *T { return &v }
