package podvolume

import (
	"errors"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultRoot is the kubelet's pods directory.
const DefaultRoot = "/var/lib/kubelet/pods"

// Volume plugin folders under <root>/<pod-uid>/volumes/.
const (
	PluginEmptyDir = "kubernetes.io~empty-dir"
	PluginLocal    = "kubernetes.io~local-volume"
	PluginCSI      = "kubernetes.io~csi"
	PluginNFS      = "kubernetes.io~nfs"
	PluginHostPath = "kubernetes.io~host-path"
)

// ErrUnsupported: the volume's data is not in a folder of the pod the
// agent can read (hostPath, block volumes, unknown plugins).
var ErrUnsupported = errors.New("volume type not supported for pod volume backup")

// Dir returns the folder where the kubelet mounted a pod's volume: for an
// emptyDir <root>/<uid>/volumes/kubernetes.io~empty-dir/<volume>; for a
// PVC-backed volume the folder is named after the PersistentVolume pv the
// claim is bound to (local: .../kubernetes.io~local-volume/<pv>, CSI:
// .../kubernetes.io~csi/<pv>/mount, NFS: .../kubernetes.io~nfs/<pv>).
func Dir(root string, podUID types.UID, v Volume, pv *corev1.PersistentVolume) (string, error) {
	base := filepath.Join(root, string(podUID), "volumes")
	switch v.Kind {
	case KindEmptyDir:
		return filepath.Join(base, PluginEmptyDir, v.Name), nil
	case KindPVC:
	default:
		return "", fmt.Errorf("volume %s: kind %q: %w", v.Name, v.Kind, ErrUnsupported)
	}
	if pv == nil {
		return "", fmt.Errorf("volume %s: claim %s is not bound to a PersistentVolume", v.Name, v.PVC)
	}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return "", fmt.Errorf("volume %s: PV %s is a block volume: %w", v.Name, pv.Name, ErrUnsupported)
	}
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.Local != nil:
		return filepath.Join(base, PluginLocal, pv.Name), nil
	case s.CSI != nil:
		return filepath.Join(base, PluginCSI, pv.Name, "mount"), nil
	case s.NFS != nil:
		return filepath.Join(base, PluginNFS, pv.Name), nil
	case s.HostPath != nil:
		return "", fmt.Errorf("volume %s: PV %s is a hostPath volume: %w", v.Name, pv.Name, ErrUnsupported)
	}
	return "", fmt.Errorf("volume %s: PV %s: %w", v.Name, pv.Name, ErrUnsupported)
}

// VolumeOf returns pod's volume called name as a Volume, or false when the
// pod has no data volume of that name.
func VolumeOf(pod *corev1.Pod, name string) (Volume, bool) {
	for _, v := range pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			return Volume{Name: name, Kind: KindPVC, PVC: v.PersistentVolumeClaim.ClaimName}, true
		case v.EmptyDir != nil:
			return Volume{Name: name, Kind: KindEmptyDir}, true
		}
	}
	return Volume{}, false
}
