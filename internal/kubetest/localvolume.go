package kubetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// LocalStorageClass is the StorageClass of the node's local volumes (no
// provisioner, WaitForFirstConsumer), created on first use.
const LocalStorageClass = "local"

// LocalVolume is a `local` PersistentVolume on a node, a folder of the
// host, and the claim bound to it.
type LocalVolume struct {
	Namespace string
	PVC       string // the claim, in Namespace
	PV        string // the volume: <Node.PodsDir>/<uid>/volumes/kubernetes.io~local-volume/<PV>
	Path      string // the folder on the host
}

// LocalVolume creates a local PersistentVolume of 1Gi on n, backed by a new
// folder in t.TempDir(), and a claim named name in ns bound to it. It
// returns once the claim is Bound, and deletes both when the test ends.
func (n *Node) LocalVolume(t testing.TB, ns, name string) LocalVolume {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := n.CreateLocalVolume(ctx, ns, name, t.TempDir(), "1Gi")
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, v.PVC, metav1.DeleteOptions{})
		_ = n.cs.CoreV1().PersistentVolumes().Delete(ctx, v.PV, metav1.DeleteOptions{})
	})
	return v
}

// CreateLocalVolume creates (outside a test) a local PersistentVolume of
// size on n for the existing folder path, pre-bound to a claim named name in
// ns, and that claim, and waits until the claim is Bound. The volume is
// named <ns>-<name>, with reclaim policy Retain: deleting it leaves path as
// it is.
func (n *Node) CreateLocalVolume(ctx context.Context, ns, name, path, size string) (LocalVolume, error) {
	v := LocalVolume{Namespace: ns, PVC: name, PV: ns + "-" + name, Path: path}
	qty, err := resource.ParseQuantity(size)
	if err != nil {
		return v, fmt.Errorf("local volume %s: size: %w", v.PV, err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		return v, fmt.Errorf("local volume %s: %s is not a folder (%v)", v.PV, path, err)
	}
	pv, err := n.localPV(ctx, ns, name, v.PV, path, qty)
	if err != nil {
		return v, err
	}
	class, fs := LocalStorageClass, corev1.PersistentVolumeFilesystem
	if _, err := n.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return v, fmt.Errorf("creating PersistentVolume %s: %w", v.PV, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			VolumeName:       v.PV,
			VolumeMode:       &fs,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty}},
		},
	}
	if _, err := n.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		return v, fmt.Errorf("creating PersistentVolumeClaim %s/%s: %w", ns, name, err)
	}
	var phase corev1.PersistentVolumeClaimPhase
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := n.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		phase = got.Status.Phase
		return phase == corev1.ClaimBound, nil
	})
	if err != nil {
		return v, fmt.Errorf("claim %s/%s not Bound to %s (phase %q; is kube-controller-manager running?): %w", ns, name, v.PV, phase, err)
	}
	return v, nil
}

// localPV returns a local PersistentVolume of qty on n for the folder path,
// pre-bound to the claim ns/claim, creating the StorageClass first.
func (n *Node) localPV(ctx context.Context, ns, claim, pvName, path string, qty resource.Quantity) (*corev1.PersistentVolume, error) {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: LocalStorageClass},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: &wffc,
	}
	if _, err := n.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating StorageClass %s: %w", LocalStorageClass, err)
	}
	class := LocalStorageClass
	fs := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: qty},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    &fs,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				Local: &corev1.LocalVolumeSource{Path: path},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n.Name},
				}}}},
			}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: claim},
		},
	}
	return pv, nil
}

// LocalPV creates a local PersistentVolume pvName of 1Gi on n, backed by a
// new folder in t.TempDir(), pre-bound to the claim ns/claim (which need
// not exist yet: a restored claim binds to it), and deletes it when the
// test ends. It returns the folder.
func (n *Node) LocalPV(t testing.TB, ns, claim, pvName string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := t.TempDir()
	pv, err := n.localPV(ctx, ns, claim, pvName, path, resource.MustParse("1Gi"))
	if err == nil {
		_, err = n.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("kubetest: local volume %s: %v", pvName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.cs.CoreV1().PersistentVolumes().Delete(ctx, pvName, metav1.DeleteOptions{})
	})
	return path
}
