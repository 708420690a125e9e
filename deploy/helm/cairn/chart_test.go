// Package chart tests the Helm chart in this folder: `helm template` (helm
// built from the Go module proxy by hack/build-tools.sh) renders it, and
// every rendered object is applied to a real API server with server-side
// dry-run and strict field validation. The folder holds no Go code of its
// own; .helmignore keeps this file out of the packaged chart.
package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// base are the values every installation must give: the repository and
// the name of the Secret with its passphrase (never the passphrase).
var base = []string{"location.url=s3://backups/cluster-a", "location.passphraseSecret.name=cairn-repo"}

func TestChartAppliesToTheAPIServer(t *testing.T) {
	helm := kubetest.Tool(t, "helm")
	kc := kubetest.Shared(t)
	crds, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{
		Paths: []string{"crds", filepath.Join("testdata", "monitoring.coreos.com.yaml")}, ErrorIfPathMissing: true,
	})
	if err != nil {
		t.Fatalf("installing the chart's CRDs: %v", err)
	}
	if len(crds) != len(cairnv1.Kinds)+2 {
		t.Fatalf("installed %d CRDs, want the chart's %d and 2 monitoring stand-ins", len(crds), len(cairnv1.Kinds))
	}
	dc, err := discovery.NewDiscoveryClientForConfig(kc.Config)
	if err != nil {
		t.Fatal(err)
	}
	version, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(kc.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := kc.Namespace(t)

	for _, tc := range []struct {
		name  string
		set   []string
		check func(t *testing.T, objs map[string]*unstructured.Unstructured)
	}{
		{"defaults", nil, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			s := object(t, objs, "Schedule/daily-backup")
			for path, want := range map[string]string{"spec.schedule": "0 0 * * *", "spec.template.ttl": "720h", "spec.template.optOutLabel": "compliantkubernetes.io/nobackup"} {
				if got, _, _ := unstructured.NestedString(s.Object, strings.Split(path, ".")...); got != want {
					t.Errorf("Schedule daily-backup %s = %q, want %q", path, got, want)
				}
			}
			if pn, _, _ := unstructured.NestedStringSlice(s.Object, "spec", "template", "platformNamespaces"); !slices.Contains(pn, ns) {
				t.Errorf("platform namespaces %v lack the controller's namespace %s", pn, ns)
			}
			object(t, objs, "Schedule/daily-dashboards")
			checkAgent(t, objs, ns, "/var/lib/kubelet/pods", "4")
			ctl := fmt.Sprint(object(t, objs, "Deployment/"+deploymentName(objs)).Object["spec"])
			if !strings.Contains(ctl, "CAIRN_RESTORE_WAIT_IMAGE value:busybox:1.36") {
				t.Errorf("the controller is not given restoreWaitImage: %s", ctl)
			}
			pv := fmt.Sprint(object(t, objs, "ClusterRole/cairn-podvolumes").Object["rules"])
			for _, want := range []string{"resources:[pods/exec] verbs:[create]", "resources:[pods] verbs:[get list watch]", "resources:[replicasets] verbs:[get]"} {
				if !strings.Contains(pv, want) {
					t.Errorf("the controller's pod volume rules lack %s: %s", want, pv)
				}
			}
			if rules := fmt.Sprint(object(t, objs, "ClusterRole/cairn-restore").Object["rules"]); !strings.Contains(rules, "apiGroups:[*] resources:[*] verbs:[create patch]") || !strings.Contains(rules, "verbs:[escalate bind]") {
				t.Errorf("default restore rules: %s", rules)
			}
			object(t, objs, "ValidatingAdmissionPolicy/cairn-agent-own-node")
			object(t, objs, "ValidatingAdmissionPolicyBinding/cairn-agent-own-node")
			role := fmt.Sprint(object(t, objs, "Role/cairn-controller").Object["rules"])
			if !strings.Contains(role, "resources:[podvolumebackups podvolumerestores] verbs:[get list watch create delete]") {
				t.Errorf("the controller's Role lacks the work items: %s", role)
			}
			for k := range objs {
				if strings.HasPrefix(k, "Restore/") || strings.HasPrefix(k, "PrometheusRule/") || strings.HasPrefix(k, "ServiceMonitor/") {
					t.Errorf("%s rendered by default", k)
				}
			}
			checkSelfService(t, objs, ns)
		}},
		{"no self-service", []string{"selfService.enabled=false"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			for _, k := range []string{
				"ClusterRole/cairn-selfservice-view", "ClusterRole/cairn-selfservice-edit", "ClusterRole/cairn-selfservice",
				"ClusterRoleBinding/cairn-selfservice", "Secret/cairn-selfservice", "Service/cairn-webhook",
				"MutatingWebhookConfiguration/cairn-namespacerestore",
			} {
				if objs[k] != nil {
					t.Errorf("%s rendered with selfService.enabled=false", k)
				}
			}
			for k, o := range objs {
				if r := fmt.Sprint(o.Object["rules"]); strings.Contains(r, "impersonate") {
					t.Errorf("%s grants impersonate with selfService.enabled=false: %s", k, r)
				}
			}
			if ctl := fmt.Sprint(object(t, objs, "Deployment/"+deploymentName(objs)).Object["spec"]); strings.Contains(ctl, "webhook") || strings.Contains(ctl, "requester-key") {
				t.Errorf("the controller gets the webhook with selfService.enabled=false: %s", ctl)
			}
			// The controller's cache watches both kinds in every namespace
			// anyway: it keeps its rights on them.
			object(t, objs, "ClusterRole/cairn-namespaceviews")
		}},
		{"restore on install", []string{"restore.enabled=true"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			r := object(t, objs, "Restore/restore-on-install-daily-backup")
			if got, _, _ := unstructured.NestedString(r.Object, "spec", "scheduleName"); got != "daily-backup" {
				t.Errorf("restore on install: scheduleName %q, want daily-backup", got)
			}
			if r.GetAnnotations()["helm.sh/hook"] != "post-install" {
				t.Errorf("restore on install is not a post-install hook: %v", r.GetAnnotations())
			}
		}},
		{"replicas and velero import", []string{"location.replicas[0].name=offsite", "location.replicas[0].repository=s3://offsite/cluster-a",
			"location.replicas[0].interval=2h", "location.veleroImport.url=s3://velero/prefix", "location.veleroImport.credentialsSecret=velero-read",
			"location.veleroImport.completedOnly=true"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			l := object(t, objs, "BackupLocation/default")
			reps, _, _ := unstructured.NestedSlice(l.Object, "spec", "replicas")
			if len(reps) != 1 || fmt.Sprint(reps[0]) != "map[interval:2h name:offsite repository:s3://offsite/cluster-a]" {
				t.Errorf("replicas: %v", reps)
			}
			vi, _, _ := unstructured.NestedMap(l.Object, "spec", "veleroImport")
			if fmt.Sprint(vi) != "map[completedOnly:true credentials:map[name:velero-read] location:s3://velero/prefix]" {
				t.Errorf("veleroImport: %v", vi)
			}
		}},
		{"agent settings", []string{"agent.podsRoot=/var/lib/k0s/kubelet/pods", "agent.concurrency=2", "restoreWaitImage=registry.example.com/busybox:1.36"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			checkAgent(t, objs, ns, "/var/lib/k0s/kubelet/pods", "2")
			if ctl := fmt.Sprint(object(t, objs, "Deployment/"+deploymentName(objs)).Object["spec"]); !strings.Contains(ctl, "value:registry.example.com/busybox:1.36") {
				t.Errorf("the controller is not given restoreWaitImage: %s", ctl)
			}
		}},
		{"restore limited to API groups", []string{"rbac.restoreAPIGroups={apps,batch}"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			rules := fmt.Sprint(object(t, objs, "ClusterRole/cairn-restore").Object["rules"])
			if !strings.Contains(rules, "apiGroups:[apps batch] resources:[*] verbs:[create patch]") || strings.Contains(rules, "escalate") {
				t.Errorf("restore rules with restoreAPIGroups apps,batch: %s", rules)
			}
		}},
		{"no agent", []string{"agent.enabled=false"}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			for k := range objs {
				if strings.Contains(k, "agent") || strings.Contains(k, "podvolumes") {
					t.Errorf("%s rendered with agent.enabled=false", k)
				}
			}
		}},
		{"named backup, monitoring, guardrails", []string{
			"restore.enabled=true", "restore.backupName=daily-backup-20250101000000", "platformOptIn.enabled=false",
			"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true", "metrics.dashboard.enabled=true",
			"retention.minRetention=168h", "retention.maxRetention=2160h",
			"location.credentialsSecret=cairn-s3", "location.s3.endpoint=https://s3.example.com", "location.s3.pathStyle=true",
			"location.s3.caSecret.name=s3-ca",
		}, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			loc := object(t, objs, "BackupLocation/default")
			if name, _, _ := unstructured.NestedString(loc.Object, "spec", "ca", "name"); name != "s3-ca" {
				t.Errorf("BackupLocation spec.ca.name %q, want s3-ca", name)
			}
			if key, _, _ := unstructured.NestedString(loc.Object, "spec", "ca", "key"); key != "ca.crt" {
				t.Errorf("BackupLocation spec.ca.key %q, want ca.crt", key)
			}
			r := object(t, objs, "Restore/restore-on-install-daily-backup-20250101000000")
			if got, _, _ := unstructured.NestedString(r.Object, "spec", "backupName"); got != "daily-backup-20250101000000" {
				t.Errorf("restore on install: backupName %q", got)
			}
			rule := object(t, objs, "PrometheusRule/"+ruleName(objs))
			if !strings.Contains(fmt.Sprint(rule.Object["spec"]), "time() - cairn_backup_last_successful_timestamp_seconds") {
				t.Errorf("PrometheusRule lacks the last-success alert: %v", rule.Object["spec"])
			}
			for _, alert := range []string{"CairnNamespaceBackupMissing", "CairnRepositoryDamaged", "CairnRepositoryCheckMissing"} {
				if !strings.Contains(fmt.Sprint(rule.Object["spec"]), alert) {
					t.Errorf("PrometheusRule lacks %s", alert)
				}
			}
			var dash *unstructured.Unstructured
			for k, o := range objs {
				if strings.HasPrefix(k, "ConfigMap/") && strings.HasSuffix(k, "-dashboard") {
					dash = o
				}
			}
			if dash == nil || dash.GetLabels()["grafana_dashboard"] != "1" {
				t.Fatalf("no dashboard ConfigMap with label grafana_dashboard=1")
			}
			if j, _, _ := unstructured.NestedString(dash.Object, "data", "cairn.json"); !json.Valid([]byte(j)) || !strings.Contains(j, "cairn_namespace_last_backup_timestamp_seconds") {
				t.Errorf("dashboard ConfigMap: data cairn.json is not the dashboard (%d bytes)", len(j))
			}
			args := fmt.Sprint(object(t, objs, "Deployment/"+deploymentName(objs)).Object["spec"])
			for _, want := range []string{"--min-retention=168h", "--max-retention=2160h", "--namespace=" + ns, "--max-operations=2"} {
				if !strings.Contains(args, want) {
					t.Errorf("controller args lack %s", want)
				}
			}
			for _, r := range []string{"Role/cairn-controller", "Role/cairn-agent"} {
				role := fmt.Sprint(object(t, objs, r).Object["rules"])
				if !strings.Contains(role, "cairn-repo") || !strings.Contains(role, "cairn-s3") || !strings.Contains(role, "s3-ca") {
					t.Errorf("%s does not name the three Secrets: %s", r, role)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, helm, ns, version.GitVersion, append(slices.Clone(base), tc.set...))
			for key, u := range objs {
				if u.GetKind() == "Secret" && key != "Secret/cairn-selfservice" {
					t.Errorf("the chart renders a Secret (%s): it must only name existing ones", key)
				}
				if err := dryRun(t.Context(), dyn, mapper, ns, u); err != nil {
					t.Errorf("the API server rejects %s: %v", key, err)
				}
			}
			tc.check(t, objs)
		})
	}
}

// checkAgent checks the node agent's DaemonSet: on every node, the
// kubelet's pods folder mounted at the same path with HostToContainer
// propagation, root with only the file capabilities, its node's name from
// the downward API, and its own ServiceAccount with read-only access to
// pods, claims and volumes.
func checkAgent(t *testing.T, objs map[string]*unstructured.Unstructured, ns, root, concurrency string) {
	t.Helper()
	ds := object(t, objs, "DaemonSet/cairn-agent")
	pod, _, _ := unstructured.NestedMap(ds.Object, "spec", "template", "spec")
	if pod["serviceAccountName"] != "cairn-agent" {
		t.Errorf("agent ServiceAccount %v", pod["serviceAccountName"])
	}
	object(t, objs, "ServiceAccount/cairn-agent")
	spec := fmt.Sprint(pod)
	for _, want := range []string{
		"--pods-root=" + root, "--concurrency=" + concurrency, "--namespace=" + ns,
		"mountPath:" + root + " mountPropagation:HostToContainer name:pods",
		"hostPath:map[path:" + root + " type:Directory]",
		"name:NODE_NAME valueFrom:map[fieldRef:map[fieldPath:spec.nodeName]]",
		"add:[DAC_READ_SEARCH DAC_OVERRIDE CHOWN FOWNER FSETID SETFCAP] drop:[ALL]",
		"tolerations:[map[operator:Exists]]", "runAsUser:0", "allowPrivilegeEscalation:false",
	} {
		if !strings.Contains(spec, want) {
			t.Errorf("agent pod spec lacks %s:\n%s", want, spec)
		}
	}
	cr := fmt.Sprint(object(t, objs, "ClusterRole/cairn-agent").Object["rules"])
	for _, bad := range []string{"create", "update", "patch", "delete", "secrets", "exec"} {
		if strings.Contains(cr, bad) {
			t.Errorf("the agent's ClusterRole grants %s: %s", bad, cr)
		}
	}
	role := fmt.Sprint(object(t, objs, "Role/cairn-agent").Object["rules"])
	for _, want := range []string{"resources:[podvolumebackups/status podvolumerestores/status]", "resources:[leases]", "resourceNames:[cairn-repo]"} {
		if !strings.Contains(role, want) {
			t.Errorf("the agent's Role lacks %s: %s", want, role)
		}
	}
}

// Without the name of a passphrase Secret the chart does not render: it
// has no default passphrase.
func TestChartRequiresAPassphraseSecret(t *testing.T) {
	helm := kubetest.Tool(t, "helm")
	out, err := exec.Command(helm, "template", "cairn", ".", "--kube-version", "v1.34.0", "--set", base[0]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "location.passphraseSecret.name is required") {
		t.Fatalf("rendering without a passphrase Secret: err %v, output:\n%s", err, out)
	}
}

// render runs helm template with the values set and returns the objects by
// Kind/name.
func render(t *testing.T, helm, ns, kubeVersion string, set []string) map[string]*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "cairn", ".", "--namespace", ns, "--kube-version", kubeVersion}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding helm's output: %v\n%s", err, out)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs[u.GetKind()+"/"+u.GetName()] = &u
	}
	if len(objs) < 10 {
		t.Fatalf("helm rendered only %d objects:\n%s", len(objs), out)
	}
	return objs
}

// dryRun applies u server-side without persisting it, rejecting unknown
// fields.
func dryRun(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, ns string, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("mapping %s: %w", gvk, err)
	}
	ri := dynamic.ResourceInterface(dyn.Resource(m.Resource))
	if m.Scope.Name() == "namespace" {
		if u.GetNamespace() != ns {
			return fmt.Errorf("namespace %q, want the release's %q", u.GetNamespace(), ns)
		}
		ri = dyn.Resource(m.Resource).Namespace(ns)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	force := true
	_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun: []string{metav1.DryRunAll}, FieldManager: "cairn-chart-test", Force: &force, FieldValidation: "Strict",
	})
	return err
}

func object(t *testing.T, objs map[string]*unstructured.Unstructured, key string) *unstructured.Unstructured {
	t.Helper()
	u := objs[key]
	if u == nil {
		keys := make([]string, 0, len(objs))
		for k := range objs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Fatalf("%s not rendered (rendered: %v)", key, keys)
	}
	return u
}

func ruleName(objs map[string]*unstructured.Unstructured) string {
	return nameOf(objs, "PrometheusRule/")
}

func deploymentName(objs map[string]*unstructured.Unstructured) string {
	return nameOf(objs, "Deployment/")
}

func nameOf(objs map[string]*unstructured.Unstructured, prefix string) string {
	for k := range objs {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			return name
		}
	}
	return ""
}
