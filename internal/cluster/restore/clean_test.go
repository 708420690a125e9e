package restore

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name            string
		group, resource string
		in, want        string
		keepNodePorts   bool
	}{
		{"metadata and status", "", "configmaps",
			`{"metadata":{"name":"a","uid":"u","resourceVersion":"1","creationTimestamp":"t","generation":2,"managedFields":[],
			"selfLink":"s","deletionTimestamp":"t","deletionGracePeriodSeconds":0,"labels":{"x":"y"},"finalizers":["f"]},"data":{"k":"v"},"status":{}}`,
			`{"metadata":{"name":"a","labels":{"x":"y"},"finalizers":["f"]},"data":{"k":"v"}}`, false},
		{"service", "", "services",
			`{"metadata":{},"spec":{"type":"NodePort","clusterIP":"10.0.0.1","clusterIPs":["10.0.0.1"],"healthCheckNodePort":3,
			"ports":[{"port":80,"nodePort":30001}]}}`,
			`{"metadata":{},"spec":{"type":"NodePort","ports":[{"port":80}]}}`, false},
		{"service keeping node ports", "", "services",
			`{"metadata":{},"spec":{"clusterIP":"10.0.0.1","ports":[{"port":80,"nodePort":30001}]}}`,
			`{"metadata":{},"spec":{"ports":[{"port":80,"nodePort":30001}]}}`, true},
		{"headless service", "", "services",
			`{"metadata":{},"spec":{"clusterIP":"None","clusterIPs":["None"]}}`,
			`{"metadata":{},"spec":{"clusterIP":"None","clusterIPs":["None"]}}`, false},
		{"pod", "", "pods",
			`{"metadata":{},"spec":{"nodeName":"n1","ephemeralContainers":[{}],
			"volumes":[{"name":"data","emptyDir":{}},{"name":"kube-api-access-x1","projected":{}}],
			"containers":[{"name":"c","volumeMounts":[{"name":"data"},{"name":"kube-api-access-x1"}]}],
			"initContainers":[{"name":"i","volumeMounts":[{"name":"kube-api-access-x1"}]}]}}`,
			`{"metadata":{},"spec":{"volumes":[{"name":"data","emptyDir":{}}],
			"containers":[{"name":"c","volumeMounts":[{"name":"data"}]}],"initContainers":[{"name":"i","volumeMounts":[]}]}}`, false},
		{"pv", "", "persistentvolumes",
			`{"metadata":{},"spec":{"claimRef":{"kind":"PersistentVolumeClaim","namespace":"a","name":"data","uid":"u","resourceVersion":"9"}}}`,
			`{"metadata":{},"spec":{"claimRef":{"kind":"PersistentVolumeClaim","namespace":"a","name":"data"}}}`, false},
		{"pvc", "", "persistentvolumeclaims",
			`{"metadata":{"annotations":{"pv.kubernetes.io/bind-completed":"yes","pv.kubernetes.io/bound-by-controller":"yes",
			"volume.kubernetes.io/selected-node":"n1","volume.beta.kubernetes.io/storage-provisioner":"p"}},"spec":{"volumeName":"pv1"}}`,
			`{"metadata":{"annotations":{"volume.beta.kubernetes.io/storage-provisioner":"p"}},"spec":{"volumeName":"pv1"}}`, false},
		{"service account token", "", "secrets",
			`{"metadata":{"annotations":{"kubernetes.io/service-account.name":"sa","kubernetes.io/service-account.uid":"u"}},
			"type":"kubernetes.io/service-account-token","data":{"token":"t","ca.crt":"c","namespace":"n","extra":"e"}}`,
			`{"metadata":{"annotations":{"kubernetes.io/service-account.name":"sa"}},"type":"kubernetes.io/service-account-token","data":{"extra":"e"}}`, false},
		{"job", "batch", "jobs",
			`{"metadata":{"labels":{"controller-uid":"u","job-name":"j","team":"a"}},"spec":{"selector":{"matchLabels":{"controller-uid":"u"}},
			"template":{"metadata":{"labels":{"batch.kubernetes.io/controller-uid":"u","batch.kubernetes.io/job-name":"j","controller-uid":"u","job-name":"j","app":"x"}}}}}`,
			`{"metadata":{"labels":{"team":"a"}},"spec":{"template":{"metadata":{"labels":{"app":"x"}}}}}`, false},
		{"job with manual selector", "batch", "jobs",
			`{"metadata":{},"spec":{"manualSelector":true,"selector":{"matchLabels":{"controller-uid":"u"}}}}`,
			`{"metadata":{},"spec":{"manualSelector":true,"selector":{"matchLabels":{"controller-uid":"u"}}}}`, false},
		{"deployment revision", "apps", "deployments",
			`{"metadata":{"annotations":{"deployment.kubernetes.io/revision":"3","a":"b"}}}`,
			`{"metadata":{"annotations":{"a":"b"}}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := decode(t, tc.in)
			clean(tc.group, tc.resource, obj, &Options{PreserveNodePorts: tc.keepNodePorts})
			got, _ := json.Marshal(obj)
			want, _ := json.Marshal(decode(t, tc.want))
			if string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestMove(t *testing.T) {
	x := &restorer{o: &Options{NamespaceMapping: map[string]string{"a": "b"}}}
	pv := decode(t, `{"metadata":{"name":"pv1"},"spec":{"claimRef":{"namespace":"a","name":"data"}}}`)
	x.move(&entry{ref: refOf("", "persistentvolumes", "", "pv1")}, pv, "", "pv1")
	crb := decode(t, `{"metadata":{"name":"c"},"subjects":[{"kind":"ServiceAccount","name":"s","namespace":"a"},{"kind":"User","name":"u"}]}`)
	x.move(&entry{ref: refOf("rbac.authorization.k8s.io", "clusterrolebindings", "", "c")}, crb, "", "c")
	ns := decode(t, `{"metadata":{"name":"a","labels":{"kubernetes.io/metadata.name":"a"}}}`)
	x.move(&entry{ref: refOf("", "namespaces", "", "a")}, ns, "", "b")
	for _, tc := range []struct {
		obj  map[string]any
		want string
	}{
		{pv, `{"metadata":{"name":"pv1"},"spec":{"claimRef":{"name":"data","namespace":"b"}}}`},
		{crb, `{"metadata":{"name":"c"},"subjects":[{"kind":"ServiceAccount","name":"s","namespace":"b"},{"kind":"User","name":"u"}]}`},
		{ns, `{"metadata":{"labels":{"kubernetes.io/metadata.name":"b"},"name":"b"}}`},
	} {
		got, _ := json.Marshal(tc.obj)
		want, _ := json.Marshal(decode(t, tc.want))
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"daily-20250101":              "daily-20250101",
		"a b/c":                       "a-b-c",
		"-x-":                         "x",
		"n" + strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}
