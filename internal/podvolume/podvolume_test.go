package podvolume

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func pvcVol(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func emptyVol(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// allKinds is a pod with one volume of every kind.
func allKinds(ns, name string, ann map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Annotations: ann},
		Spec: corev1.PodSpec{NodeName: "n1", Volumes: []corev1.Volume{
			pvcVol("data", "claim"),
			emptyVol("scratch"),
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "kube-api-access-abc", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func names(vs []Volume) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func skipNames(ss []Skip) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.Volume)
	}
	return out
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name       string
		defaultAll bool
		ann        map[string]string
		take, skip []string
	}{
		{"default: PVC and emptyDir, hostPath reported", true, nil, []string{"data", "scratch"}, []string{"host"}},
		{"default with excludes", true, map[string]string{AnnotationExcludes: "scratch, host"}, []string{"data"}, []string{}},
		{"default ignores the opt-in list", true, map[string]string{AnnotationVolumes: "scratch"}, []string{"data", "scratch"}, []string{"host"}},
		{"opt-in: none without the annotation", false, nil, []string{}, []string{}},
		{"opt-in: only the listed ones", false, map[string]string{AnnotationVolumes: "scratch"}, []string{"scratch"}, []string{}},
		{"opt-in: listed secret, hostPath and unknown are reported", false, map[string]string{AnnotationVolumes: "data,sec,host,nope,data"}, []string{"data"}, []string{"sec", "host", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := allKinds("ns", "p", tc.ann)
			take, skip := Select(&pod, tc.defaultAll)
			if got := names(take); !reflect.DeepEqual(got, tc.take) {
				t.Errorf("take %v, want %v", got, tc.take)
			}
			if got := skipNames(skip); !reflect.DeepEqual(got, tc.skip) {
				t.Errorf("skip %v, want %v", got, tc.skip)
			}
		})
	}
	pod := allKinds("ns", "p", nil)
	take, _ := Select(&pod, true)
	if take[0] != (Volume{Name: "data", Kind: KindPVC, PVC: "claim"}) || take[1] != (Volume{Name: "scratch", Kind: KindEmptyDir}) {
		t.Errorf("volumes: %+v", take)
	}
}

func TestPlan(t *testing.T) {
	running := func(ns, name, node string, vols ...corev1.Volume) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
			Spec:       corev1.PodSpec{NodeName: node, Volumes: vols},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
	}
	pending := running("a", "pending", "", pvcVol("d", "solo"), emptyVol("e"))
	pending.Status.Phase = corev1.PodPending
	pods := []corev1.Pod{
		running("a", "web-2", "n1", pvcVol("d", "shared")),
		running("a", "web-1", "n1", pvcVol("d", "shared"), emptyVol("tmp")),
		running("b", "web-1", "n1", pvcVol("d", "shared")), // another namespace: another claim
		running("a", "agentless", "n2", pvcVol("d", "other")),
		running("a", "z-reader", "n1", pvcVol("d", "other")), // the same claim through a pod with an agent
		running("a", "lonely", "n2", emptyVol("e")),
		pending,
	}
	p := NewPlan(pods, PlanOptions{DefaultAll: true, HasAgent: func(n string) bool { return n == "n1" }})
	var got []string
	for _, it := range p.Items {
		got = append(got, it.Namespace+"/"+it.Pod+"/"+it.Volume.Name)
	}
	want := []string{"a/web-1/d", "a/web-1/tmp", "a/z-reader/d", "b/web-1/d"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
	var missed []string
	for _, m := range p.Missed {
		missed = append(missed, m.String())
	}
	wantMissed := []string{
		"a/lonely volume e: no cairn agent runs on node n2",
		"a/pending volume e: the pod is not scheduled to a node",
		"a/pending volume d (PVC solo): the pod is not scheduled to a node",
	}
	if !reflect.DeepEqual(missed, wantMissed) {
		t.Errorf("missed\n %q\nwant\n %q", missed, wantMissed)
	}
}

func TestUnready(t *testing.T) {
	p := corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	if got := Unready(&p, nil); got != "the pod is Succeeded, not Running" {
		t.Error(got)
	}
	p.Status.Phase = corev1.PodRunning
	if got := Unready(&p, nil); got != "" {
		t.Error(got)
	}
}

func TestDir(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	pv := func(name string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
	}
	blockPV := pv("blk", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/x"}})
	blockPV.Spec.VolumeMode = &block
	claim := Volume{Name: "data", Kind: KindPVC, PVC: "claim"}
	for _, tc := range []struct {
		name string
		v    Volume
		pv   *corev1.PersistentVolume
		want string
		err  error
	}{
		{"emptyDir", Volume{Name: "scratch", Kind: KindEmptyDir}, nil, "/k/u1/volumes/kubernetes.io~empty-dir/scratch", nil},
		{"local PV: named after the PV", claim, pv("ns-data", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/srv"}}), "/k/u1/volumes/kubernetes.io~local-volume/ns-data", nil},
		{"CSI", claim, pv("pvc-123", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "d", VolumeHandle: "h"}}), "/k/u1/volumes/kubernetes.io~csi/pvc-123/mount", nil},
		{"NFS", claim, pv("n", corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}), "/k/u1/volumes/kubernetes.io~nfs/n", nil},
		{"hostPath PV", claim, pv("h", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}), "", ErrUnsupported},
		{"block", claim, blockPV, "", ErrUnsupported},
		{"unbound", claim, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Dir("/k", "u1", tc.v, tc.pv)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("%q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("%q, %v; want an error", got, err)
			}
		})
	}
}

func TestInject(t *testing.T) {
	deploy := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "x"}},
			"spec": map[string]any{
				"initContainers": []any{map[string]any{"name": "theirs", "image": "i"}, map[string]any{"name": InitContainerName}},
				"containers":     []any{map[string]any{"name": "app", "image": "i"}},
				"volumes":        []any{map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "c"}}, map[string]any{"name": "tmp", "emptyDir": map[string]any{}}},
			},
		}},
	}
	path, ok := TemplatePath("apps", "Deployment")
	if !ok {
		t.Fatal("Deployment has no template path")
	}
	vols, err := PodVolumes(deploy, path)
	if err != nil || len(vols) != 2 || vols[0].PersistentVolumeClaim.ClaimName != "c" || vols[1].EmptyDir == nil {
		t.Fatalf("volumes %+v, %v", vols, err)
	}
	deadline := time.Unix(1700000000, 0)
	if err := Inject(deploy, path, []string{"data", "tmp"}, Wait{Restore: "r1", Source: "ns/Deployment/x", Image: "busybox", Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	inits := deploy["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["initContainers"].([]any)
	if len(inits) != 2 || inits[0].(map[string]any)["name"] != InitContainerName || inits[1].(map[string]any)["name"] != "theirs" {
		t.Fatalf("init containers: %v", inits)
	}
	c := inits[0].(map[string]any)
	script := c["command"].([]any)[2].(string)
	for _, want := range []string{"d=1700000000;", "for v in data tmp;", "/cairn-restore/$v/.cairn-restore-$POD_UID", `rm -f "$f"`} {
		if !strings.Contains(script, want) {
			t.Errorf("script %q lacks %q", script, want)
		}
	}
	if mounts := c["volumeMounts"].([]any); len(mounts) != 2 || mounts[1].(map[string]any)["mountPath"] != "/cairn-restore/tmp" {
		t.Errorf("mounts %v", mounts)
	}
	ann := deploy["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
	for k, v := range ann {
		pod.Annotations[k] = v.(string)
	}
	if r, vs := WaitVolumes(&pod); r != "r1" || !reflect.DeepEqual(vs, []string{"data", "tmp"}) || pod.Annotations[AnnotationRestoreSource] != "ns/Deployment/x" {
		t.Errorf("annotations %v", ann)
	}
	if _, ok := TemplatePath("", "ConfigMap"); ok {
		t.Error("ConfigMap has a pod template?")
	}
}

func TestClaimTemplatesAndDesiredPods(t *testing.T) {
	sts := map[string]any{"spec": map[string]any{
		"replicas": int64(3),
		"volumeClaimTemplates": []any{
			map[string]any{"metadata": map[string]any{"name": "data"}},
			map[string]any{"metadata": map[string]any{"name": "logs"}},
		},
	}}
	if got := ClaimTemplates(sts); strings.Join(got, ",") != "data,logs" {
		t.Errorf("ClaimTemplates = %v", got)
	}
	if got := ClaimTemplates(map[string]any{"spec": map[string]any{}}); len(got) != 0 {
		t.Errorf("ClaimTemplates of none = %v", got)
	}
	for _, c := range []struct {
		kind string
		spec map[string]any
		want int
	}{
		{"StatefulSet", sts["spec"].(map[string]any), 3},
		{"Deployment", map[string]any{}, 1},
		{"Deployment", map[string]any{"replicas": int64(0)}, 0},
		{"Pod", map[string]any{}, 1},
		{"DaemonSet", map[string]any{}, PodsUnknown},
		{"Job", map[string]any{}, 1},
		{"Job", map[string]any{"parallelism": int64(4), "completions": int64(2)}, 2},
		{"Job", map[string]any{"parallelism": int64(4)}, 4},
		{"Job", map[string]any{"parallelism": int64(4), "suspend": true}, 0},
	} {
		if got := DesiredPods(c.kind, map[string]any{"spec": c.spec}); got != c.want {
			t.Errorf("DesiredPods(%s, %v) = %d, want %d", c.kind, c.spec, got, c.want)
		}
	}
}

// TestFormatPinned pins what docs/design/pod-volumes.md documents and
// backups already in repositories depend on: the labels of volume
// snapshots (a restore finds its volumes by them), the marker's name and
// the annotations on restored pods.
func TestFormatPinned(t *testing.T) {
	got := SnapshotLabels("nightly", "shop", "db-0", "data", "data-db-0", "StatefulSet/db")
	want := map[string]string{
		"cairn.dev/kind": "pod-volume", "cairn.dev/backup": "nightly", "cairn.dev/namespace": "shop",
		"cairn.dev/pod": "db-0", "cairn.dev/volume": "data", "cairn.dev/pvc": "data-db-0", "cairn.dev/owner": "StatefulSet/db",
	}
	if len(got) != len(want) {
		t.Fatalf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := SnapshotLabels("b", "ns", "p", "cache", "", "Deployment/web")["cairn.dev/pvc"]; ok {
		t.Error("an emptyDir's snapshot has a pvc label")
	}
	pl := ParentLabels("shop", "data", "data-db-0", "StatefulSet/db")
	if len(pl) != 3 || pl["cairn.dev/pvc"] != "data-db-0" || pl["cairn.dev/namespace"] != "shop" {
		t.Errorf("parent labels of a claim: %v", pl)
	}
	if m := MarkerName("1234-abcd"); m != ".cairn-restore-1234-abcd" {
		t.Errorf("marker %q", m)
	}
	if ok, _ := filepath.Match(MarkerGlob, MarkerName("x")); !ok {
		t.Error("MarkerGlob does not match a marker")
	}
	for got, want := range map[string]string{
		AnnotationRestore: "cairn.dev/restore-name", AnnotationRestoreVolumes: "cairn.dev/restore-volumes",
		AnnotationRestoreSource: "cairn.dev/restore-source", InitContainerName: "cairn-restore-wait",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
