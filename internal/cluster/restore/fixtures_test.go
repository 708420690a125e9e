package restore_test

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	pvGVR  = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
	scGVR  = schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}
)

func (e *env) configMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}}, Data: data,
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cm
}

// deployment creates a Deployment and waits until its ReplicaSet exists.
func (e *env) deployment(ns, name string) *appsv1.Deployment {
	e.t.Helper()
	labels := map[string]string{"app": name}
	d, err := e.cs.AppsV1().Deployments(ns).Create(e.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.eventually("ReplicaSet of "+name, func() error {
		_, err := e.replicaSetOf(ns, d.UID)
		return err
	})
	return d
}

// replicaSetOf returns the ReplicaSet a Deployment (by UID) owns.
func (e *env) replicaSetOf(ns string, owner types.UID) (*appsv1.ReplicaSet, error) {
	list, err := e.cs.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		for _, ref := range list.Items[i].OwnerReferences {
			if ref.UID == owner {
				return &list.Items[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no ReplicaSet owned by %s", owner)
}

func (e *env) services(ns string) {
	e.t.Helper()
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None",
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-nodeport"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}},
	} {
		if _, err := e.cs.CoreV1().Services(ns).Create(e.ctx, svc, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) rbac(ns string) {
	e.t.Helper()
	if _, err := e.cs.CoreV1().ServiceAccounts(ns).Create(e.ctx, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "app"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cs.RbacV1().Roles(ns).Create(e.ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cs.RbacV1().RoleBindings(ns).Create(e.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "app-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// volume creates a StorageClass, a PV of that class and a PVC bound to it,
// and waits until the claim is Bound. It returns the class and PV names.
func (e *env) volume(ns string) (string, string) {
	e.t.Helper()
	sc := "local-" + suffix()
	pv := "pv-" + suffix()
	immediate := storagev1.VolumeBindingImmediate
	if _, err := e.cs.StorageV1().StorageClasses().Create(e.ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: sc}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &immediate,
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.dyn.Resource(scGVR).Delete(e.ctx, sc, metav1.DeleteOptions{}) })
	if _, err := e.cs.CoreV1().PersistentVolumes().Create(e.ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pv},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              sc,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + pv}},
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.dyn.Resource(pvGVR).Delete(e.ctx, pv, metav1.DeleteOptions{}) })
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Create(e.ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &sc,
			VolumeName:       pv,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitBound(ns, "data", pv)
	return sc, pv
}

func (e *env) waitBound(ns, claim, pv string) {
	e.t.Helper()
	e.eventually("PVC "+ns+"/"+claim+" bound", func() error {
		c, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, claim, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName != pv {
			return fmt.Errorf("phase %s, volume %q", c.Status.Phase, c.Spec.VolumeName)
		}
		v, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, pv, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if v.Status.Phase != corev1.VolumeBound || v.Spec.ClaimRef == nil || v.Spec.ClaimRef.UID != c.UID {
			return fmt.Errorf("PV phase %s, claimRef %+v", v.Status.Phase, v.Spec.ClaimRef)
		}
		return nil
	})
}

// crd creates a namespaced CRD "widgets.<group>" and waits until it is
// served; it returns the resource of its custom resources.
func (e *env) crd() schema.GroupVersionResource {
	e.t.Helper()
	group := "w" + suffix() + ".example.com"
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object",
					"properties": map[string]any{"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}},
		},
	}}
	if _, err := e.dyn.Resource(crdGVR).Create(e.ctx, crd, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.dyn.Resource(crdGVR).Delete(e.ctx, "widgets."+group, metav1.DeleteOptions{}) })
	e.eventually("CRD widgets."+group+" served", func() error {
		_, err := e.dyn.Resource(gvr).Namespace("default").List(e.ctx, metav1.ListOptions{})
		return err
	})
	return gvr
}

func (e *env) widget(gvr schema.GroupVersionResource, ns, name string, spec map[string]any) *unstructured.Unstructured {
	e.t.Helper()
	w, err := e.dyn.Resource(gvr).Namespace(ns).Create(e.ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": "Widget",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

func configMapNoLabels(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
}
