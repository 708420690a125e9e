package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.WithControllerManager()) }

// env is one test's view of the shared cluster.
type env struct {
	t   *testing.T
	c   *kubetest.Cluster
	cs  *kubernetes.Clientset
	dyn dynamic.Interface
	r   *repo.Repository
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	r, err := repo.Init(ctx, mem.New(), []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, cs: c.Clientset(t), dyn: dyn, r: r, ctx: ctx}
}

// run backs up with opts (as admin unless cfg is given) and fails the test
// on any error but ErrPartial.
func (e *env) run(cfg *rest.Config, opts backup.Options) (*snapshot.Snapshot, *layout.Manifest, error) {
	e.t.Helper()
	if cfg == nil {
		cfg = e.c.Config
	}
	sn, m, err := backup.Run(e.ctx, e.r, cfg, opts)
	if err != nil && !errors.Is(err, backup.ErrPartial) {
		e.t.Fatalf("backup.Run: %v", err)
	}
	return sn, m, err
}

// object reads the object stored at a layout path, or nil when absent.
func (e *env) object(sn *snapshot.Snapshot, group, res, ns, name string) *unstructured.Unstructured {
	e.t.Helper()
	b, err := backup.ReadFile(e.ctx, e.r, sn, layout.ObjectPath(group, res, ns, name))
	if errors.Is(err, backup.ErrNoFile) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("read %s/%s %s/%s: %v", group, res, ns, name, err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(b, &u.Object); err != nil {
		e.t.Fatalf("decode %s/%s %s/%s: %v", group, res, ns, name, err)
	}
	if _, ok := u.Object["metadata"].(map[string]any)["managedFields"]; ok {
		e.t.Errorf("%s/%s %s/%s still has managedFields", group, res, ns, name)
	}
	return u
}

// has asserts that an object is (want) or is not (!want) in the backup.
func (e *env) has(sn *snapshot.Snapshot, want bool, group, res, ns, name string) *unstructured.Unstructured {
	e.t.Helper()
	u := e.object(sn, group, res, ns, name)
	switch {
	case want && u == nil:
		e.t.Errorf("%s missing from the backup", layout.ObjectPath(group, res, ns, name))
	case !want && u != nil:
		e.t.Errorf("%s is in the backup, should not be", layout.ObjectPath(group, res, ns, name))
	}
	return u
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

var meta = func(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: labels}
}

func (e *env) configMap(ns, name string, labels map[string]string) {
	e.t.Helper()
	_, err := e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: meta(name, labels), Data: map[string]string{"k": "v-" + name}}, metav1.CreateOptions{})
	e.must(err)
}

func (e *env) secret(ns, name string, typ corev1.SecretType, ann map[string]string) {
	e.t.Helper()
	m := meta(name, nil)
	m.Annotations = ann
	_, err := e.cs.CoreV1().Secrets(ns).Create(e.ctx, &corev1.Secret{ObjectMeta: m, Type: typ, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{})
	e.must(err)
}

// labelNamespace sets labels on a namespace.
func (e *env) labelNamespace(ns string, labels map[string]string) {
	e.t.Helper()
	n, err := e.cs.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	e.must(err)
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range labels {
		n.Labels[k] = v
	}
	_, err = e.cs.CoreV1().Namespaces().Update(e.ctx, n, metav1.UpdateOptions{})
	e.must(err)
}

// volume creates a StorageClass, a PV of that class and a PVC in ns bound
// to it by name; it returns the PV and class names.
func (e *env) volume(ns, pvc, suffix string) (pv, class string) {
	e.t.Helper()
	pv, class = "pv-"+suffix, "sc-"+suffix
	_, err := e.cs.StorageV1().StorageClasses().Create(e.ctx, &storagev1.StorageClass{ObjectMeta: meta(class, nil), Provisioner: "example.com/none"}, metav1.CreateOptions{})
	e.must(err)
	size := resource.MustParse("1Gi")
	_, err = e.cs.CoreV1().PersistentVolumes().Create(e.ctx, &corev1.PersistentVolume{
		ObjectMeta: meta(pv, nil),
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:       class,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + pv}},
			ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: pvc},
		},
	}, metav1.CreateOptions{})
	e.must(err)
	_, err = e.cs.CoreV1().PersistentVolumeClaims(ns).Create(e.ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: meta(pvc, nil),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			VolumeName:       pv,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}, metav1.CreateOptions{})
	e.must(err)
	e.t.Cleanup(func() {
		ctx := context.Background()
		_ = e.cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{})
		_ = e.cs.StorageV1().StorageClasses().Delete(ctx, class, metav1.DeleteOptions{})
	})
	return pv, class
}

// clusterRole creates a ClusterRole and deletes it when the test ends.
func (e *env) clusterRole(name string, rules []rbacv1.PolicyRule) {
	e.t.Helper()
	_, err := e.cs.RbacV1().ClusterRoles().Create(e.ctx, &rbacv1.ClusterRole{ObjectMeta: meta(name, nil), Rules: rules}, metav1.CreateOptions{})
	e.must(err)
	e.t.Cleanup(func() { _ = e.cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// crd creates a namespaced CRD <plural>.<group> (kind Widget) and waits
// until it is established; it returns the custom resource's GVR.
func (e *env) crd(group string) schema.GroupVersionResource {
	e.t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	name := "widgets." + group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	_, err := e.dyn.Resource(gvr).Create(e.ctx, crd, metav1.CreateOptions{})
	e.must(err)
	e.t.Cleanup(func() { _ = e.dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	cr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	err = wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.dyn.Resource(cr).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	e.must(err)
	return cr
}

func (e *env) widget(gvr schema.GroupVersionResource, ns, name string, labels map[string]any) {
	e.t.Helper()
	md := map[string]any{"name": name}
	if labels != nil {
		md["labels"] = labels
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.Group + "/v1", "kind": "Widget", "metadata": md, "spec": map[string]any{"size": int64(3)},
	}}
	_, err := e.dyn.Resource(gvr).Namespace(ns).Create(e.ctx, u, metav1.CreateOptions{})
	e.must(err)
}

// suffix returns the random suffix of a kubetest namespace name.
func suffix(ns string) string { return ns[strings.LastIndex(ns, "-")+1:] }

// settled waits until the controller manager has filled a new namespace
// (its "default" service account and kube-root-ca.crt config map), so
// that it changes no more between two backups.
func (e *env) settled(ns string) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err1 := e.cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		_, err2 := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err1 == nil && err2 == nil, nil
	})
	e.must(err)
}
