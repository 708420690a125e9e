package podvolume

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations a restore puts on a restored pod or on the pod template of a
// restored workload (and so on every pod it makes).
const (
	// AnnotationRestore names the Restore whose agent work the pod waits for.
	AnnotationRestore = "cairn.dev/restore-name"
	// AnnotationRestoreVolumes lists the volumes the init container waits
	// for: "<v1>,<v2>".
	AnnotationRestoreVolumes = "cairn.dev/restore-volumes"
	// AnnotationRestoreSource says whose volumes in the backup these are:
	// "<backup namespace>/<Kind>/<name>" of the pod or its workload.
	AnnotationRestoreSource = "cairn.dev/restore-source"
)

// InitContainerName is the name of the init container that holds a
// restored pod until its volumes' data is back.
const InitContainerName = "cairn-restore-wait"

// mountRoot is where the init container mounts the volumes it waits for.
const mountRoot = "/cairn-restore"

// MarkerName is the file the agent writes into a restored volume once its
// data is in, for the pod with that UID; the pod's init container waits
// for it and removes it.
func MarkerName(podUID types.UID) string { return ".cairn-restore-" + string(podUID) }

// MarkerGlob matches every marker's name. A backup of a volume excludes it
// in the volume's top folder only, where markers are written; deeper down
// such a name is a user's file.
const MarkerGlob = ".cairn-restore-*"

// Wait describes the init container a restore adds.
type Wait struct {
	Restore  string    // the Restore's name
	Source   string    // "<backup namespace>/<Kind>/<name>"
	Image    string    // an image with /bin/sh, sleep, date and rm
	Deadline time.Time // the wait ends by itself then
}

// TemplatePath returns where the pod (its metadata and spec) is in an
// object of kind: the object itself for a Pod, its pod template for the
// workloads; false for other kinds.
func TemplatePath(group, kind string) ([]string, bool) {
	switch group + "/" + kind {
	case "/Pod":
		return nil, true
	case "apps/Deployment", "apps/StatefulSet", "apps/ReplicaSet", "apps/DaemonSet", "batch/Job":
		return []string{"spec", "template"}, true
	}
	return nil, false
}

// PodVolumes returns the volumes of the pod at path in obj.
func PodVolumes(obj map[string]any, path []string) ([]corev1.Volume, error) {
	raw, ok, err := unstructured.NestedFieldNoCopy(obj, append(append([]string(nil), path...), "spec", "volumes")...)
	if err != nil || !ok {
		return nil, err
	}
	list, _ := raw.([]any)
	out := make([]corev1.Volume, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		var v corev1.Volume
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &v); err != nil {
			return nil, fmt.Errorf("pod volume: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Inject adds the restore-wait init container, first among the init
// containers, to the pod at path in obj, mounting volumes, and the
// annotations that tell the controller which volumes to restore for it.
func Inject(obj map[string]any, path []string, volumes []string, w Wait) error {
	if len(volumes) == 0 {
		return nil
	}
	pod := append([]string(nil), path...)
	c := waitContainer(volumes, w)
	cm, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
	if err != nil {
		return err
	}
	inits, _, err := unstructured.NestedSlice(obj, append(pod, "spec", "initContainers")...)
	if err != nil {
		return err
	}
	kept := []any{cm}
	for _, ic := range inits {
		if m, ok := ic.(map[string]any); ok && m["name"] == InitContainerName {
			continue // from an earlier restore of a restored workload
		}
		kept = append(kept, ic)
	}
	if err := unstructured.SetNestedSlice(obj, kept, append(pod, "spec", "initContainers")...); err != nil {
		return err
	}
	for k, v := range map[string]string{
		AnnotationRestore: w.Restore, AnnotationRestoreVolumes: strings.Join(volumes, ","), AnnotationRestoreSource: w.Source,
	} {
		if err := unstructured.SetNestedField(obj, v, append(pod, "metadata", "annotations", k)...); err != nil {
			return err
		}
	}
	return nil
}

// waitContainer is the init container: for each volume, wait until the
// marker for this pod is there (or the deadline passed), then remove it.
func waitContainer(volumes []string, w Wait) corev1.Container {
	c := corev1.Container{
		Name:            InitContainerName,
		Image:           w.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Env: []corev1.EnvVar{{Name: "POD_UID", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"},
		}}},
		Command: []string{"/bin/sh", "-c", WaitScript(volumes, w.Deadline)},
	}
	for _, v := range volumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: mountRoot + "/" + v})
	}
	return c
}

// WaitScript is the init container's shell script. Volume names are DNS
// labels, safe in the script as they are.
func WaitScript(volumes []string, deadline time.Time) string {
	return fmt.Sprintf(`d=%d; for v in %s; do f=%s/$v/.cairn-restore-$POD_UID; `+
		`until [ -f "$f" ] || [ "$(date +%%s)" -ge "$d" ]; do sleep 1; done; `+
		`if [ -f "$f" ]; then rm -f "$f"; echo "volume $v restored"; else echo "volume $v: gave up waiting"; fi; done`,
		deadline.Unix(), strings.Join(volumes, " "), mountRoot)
}

// WaitVolumes returns the volumes a restored pod waits for, from its
// annotations, and the restore's name; empty when it waits for none.
func WaitVolumes(pod *corev1.Pod) (restore string, volumes []string) {
	return pod.Annotations[AnnotationRestore], List(pod.Annotations[AnnotationRestoreVolumes])
}

// ClaimTemplates returns the names of a StatefulSet's volume claim
// templates: its pods get a volume of each name, bound to the claim
// "<template>-<statefulset>-<ordinal>", which the pod template does not
// list.
func ClaimTemplates(obj map[string]any) []string {
	list, _, _ := unstructured.NestedSlice(obj, "spec", "volumeClaimTemplates")
	var out []string
	for _, item := range list {
		if name, _, _ := unstructured.NestedString(asMap(item), "metadata", "name"); name != "" {
			out = append(out, name)
		}
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// PodsUnknown is what DesiredPods returns for a DaemonSet: how many pods
// it runs depends on the nodes (its status says, once its controller saw
// it).
const PodsUnknown = -1

// DesiredPods returns how many pods a restored object of kind runs at
// once: 1 for a Pod, the replicas of a Deployment, ReplicaSet or
// StatefulSet (1 when unset), a Job's parallelism bounded by its
// completions (0 when suspended), PodsUnknown for a DaemonSet.
func DesiredPods(kind string, obj map[string]any) int {
	num := func(def int64, path ...string) int64 {
		if n, ok, _ := unstructured.NestedInt64(obj, path...); ok {
			return n
		}
		return def
	}
	switch kind {
	case "Pod":
		return 1
	case "DaemonSet":
		return PodsUnknown
	case "Job":
		if s, _, _ := unstructured.NestedBool(obj, "spec", "suspend"); s {
			return 0
		}
		p := num(1, "spec", "parallelism")
		if c := num(p, "spec", "completions"); c < p {
			p = c
		}
		return int(max(p, 0))
	}
	return int(max(num(1, "spec", "replicas"), 0))
}
