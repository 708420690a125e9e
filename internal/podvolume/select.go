package podvolume

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations on pods that steer the selection (Velero's names).
const (
	// AnnotationVolumes lists the volumes to back up in opt-in mode:
	// "<v1>,<v2>".
	AnnotationVolumes = "backup.velero.io/backup-volumes"
	// AnnotationExcludes lists volumes not to back up in default mode.
	AnnotationExcludes = "backup.velero.io/backup-volumes-excludes"
)

// Kinds of volumes that hold data.
const (
	KindPVC      = "pvc"
	KindEmptyDir = "emptyDir"
)

// Volume is one pod volume chosen for backup.
type Volume struct {
	Name string // the pod's name for it
	Kind string // KindPVC or KindEmptyDir
	PVC  string // the claim, for KindPVC
}

// Skip is a volume of a selected pod that is not backed up although the
// selection asked for it, and why.
type Skip struct {
	Volume string
	Reason string
}

// Reasons a volume is skipped.
const (
	ReasonHostPath = "hostPath volumes are not backed up (they are the node's files, not the pod's)"
	ReasonNoData   = "a %s volume holds no data of its own (its content comes from the API)"
	ReasonNoVolume = "the pod has no volume of that name"
	ReasonType     = "volumes of this type are not supported"
)

// Select returns the volumes of pod to back up: in default mode
// (defaultAll) every data volume but the excluded ones, in opt-in mode only
// those AnnotationVolumes names. Volumes that were asked for but cannot be
// backed up (hostPath, secret in opt-in...) are returned as skipped; volumes
// that hold no data are left out silently in default mode.
func Select(pod *corev1.Pod, defaultAll bool) (take []Volume, skipped []Skip) {
	byName := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		byName[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	consider := func(v *corev1.Volume, named bool) {
		switch {
		case v.PersistentVolumeClaim != nil:
			take = append(take, Volume{Name: v.Name, Kind: KindPVC, PVC: v.PersistentVolumeClaim.ClaimName})
		case v.EmptyDir != nil:
			take = append(take, Volume{Name: v.Name, Kind: KindEmptyDir})
		case v.HostPath != nil:
			skipped = append(skipped, Skip{Volume: v.Name, Reason: ReasonHostPath})
		case apiContent(v) != "":
			if named {
				skipped = append(skipped, Skip{Volume: v.Name, Reason: fmt.Sprintf(ReasonNoData, apiContent(v))})
			}
		default:
			skipped = append(skipped, Skip{Volume: v.Name, Reason: ReasonType})
		}
	}
	if !defaultAll {
		for _, name := range List(pod.Annotations[AnnotationVolumes]) {
			v, ok := byName[name]
			if !ok {
				skipped = append(skipped, Skip{Volume: name, Reason: ReasonNoVolume})
				continue
			}
			consider(v, true)
		}
		return take, skipped
	}
	excluded := map[string]bool{}
	for _, name := range List(pod.Annotations[AnnotationExcludes]) {
		excluded[name] = true
	}
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; !excluded[v.Name] {
			consider(v, false)
		}
	}
	return take, skipped
}

// apiContent names the type of a volume whose content the kubelet makes
// from API objects, or "".
func apiContent(v *corev1.Volume) string {
	switch {
	case v.Secret != nil:
		return "secret"
	case v.ConfigMap != nil:
		return "configMap"
	case v.Projected != nil:
		return "projected" // service account tokens are projected volumes
	case v.DownwardAPI != nil:
		return "downwardAPI"
	}
	return ""
}

// List splits an annotation's comma-separated list, dropping blanks and
// duplicates.
func List(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Item is one volume to back up: a PodVolumeBackup to create.
type Item struct {
	Namespace string
	Pod       string
	PodUID    types.UID
	Node      string
	Volume    Volume
}

// Miss is a volume that is not backed up, and why (a pod not running, no
// agent on its node, a hostPath volume...).
type Miss struct {
	Namespace, Pod, Volume string
	Reason                 string
}

func (m Miss) String() string {
	return fmt.Sprintf("%s/%s volume %s: %s", m.Namespace, m.Pod, m.Volume, m.Reason)
}

// Plan is what a backup does with the volumes of its pods.
type Plan struct {
	Items  []Item
	Missed []Miss // asked for but not backed up: the backup partially fails
}

// PlanOptions configure NewPlan.
type PlanOptions struct {
	// DefaultAll is default mode (every data volume); false is opt-in mode.
	DefaultAll bool
	// HasAgent reports whether a node runs a node agent (nil: every node).
	HasAgent func(node string) bool
}

// Unready says why pod's volumes cannot be read now, or "".
func Unready(pod *corev1.Pod, hasAgent func(string) bool) string {
	switch {
	case pod.Spec.NodeName == "":
		return "the pod is not scheduled to a node"
	case pod.Status.Phase != corev1.PodRunning:
		phase := string(pod.Status.Phase)
		if phase == "" {
			phase = "Unknown"
		}
		return "the pod is " + phase + ", not Running"
	case pod.DeletionTimestamp != nil:
		return "the pod is being deleted"
	case hasAgent != nil && !hasAgent(pod.Spec.NodeName):
		return "no cairn agent runs on node " + pod.Spec.NodeName
	}
	return ""
}

// NewPlan selects the volumes of pods to back up. A PVC that several pods
// mount is backed up once, through the first pod (by namespace and name)
// whose volumes can be read; it is missed only when none can.
func NewPlan(pods []corev1.Pod, o PlanOptions) Plan {
	sorted := make([]*corev1.Pod, len(pods))
	for i := range pods {
		sorted[i] = &pods[i]
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Namespace != sorted[j].Namespace {
			return sorted[i].Namespace < sorted[j].Namespace
		}
		return sorted[i].Name < sorted[j].Name
	})
	var p Plan
	claimed := map[string]bool{} // ns/pvc taken
	pending := map[string]Miss{} // ns/pvc missed so far
	var pendingOrder []string
	for _, pod := range sorted {
		take, skipped := Select(pod, o.DefaultAll)
		for _, s := range skipped {
			p.Missed = append(p.Missed, Miss{Namespace: pod.Namespace, Pod: pod.Name, Volume: s.Volume, Reason: s.Reason})
		}
		why := Unready(pod, o.HasAgent)
		for _, v := range take {
			key := ""
			if v.Kind == KindPVC {
				key = pod.Namespace + "/" + v.PVC
				if claimed[key] {
					continue
				}
			}
			if why != "" {
				if key == "" {
					p.Missed = append(p.Missed, Miss{Namespace: pod.Namespace, Pod: pod.Name, Volume: v.Name, Reason: why})
				} else if _, ok := pending[key]; !ok {
					pending[key] = Miss{Namespace: pod.Namespace, Pod: pod.Name, Volume: v.Name + " (PVC " + v.PVC + ")", Reason: why}
					pendingOrder = append(pendingOrder, key)
				}
				continue
			}
			if key != "" {
				claimed[key] = true
			}
			p.Items = append(p.Items, Item{Namespace: pod.Namespace, Pod: pod.Name, PodUID: pod.UID, Node: pod.Spec.NodeName, Volume: v})
		}
	}
	for _, key := range pendingOrder {
		if !claimed[key] {
			p.Missed = append(p.Missed, pending[key])
		}
	}
	return p
}
