package restore

import (
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := utiljson.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		live, want string
		same       bool
	}{
		{"equal", `{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`, true},
		{"defaulted field in live", `{"a":1,"b":"x","c":true}`, `{"a":1}`, true},
		{"field missing in live", `{"a":1}`, `{"a":1,"b":"x"}`, false},
		{"empty field missing in live", `{"a":1}`, `{"a":1,"b":{},"c":[],"d":""}`, true},
		{"scalar differs", `{"a":1}`, `{"a":2}`, false},
		{"int and float", `{"a":1}`, `{"a":1.0}`, true},
		{"string and number", `{"a":"1"}`, `{"a":1}`, false},
		{"nested defaulted", `{"s":{"c":[{"n":"x","p":"Always"}]}}`, `{"s":{"c":[{"n":"x"}]}}`, true},
		{"list length", `{"l":[1,2]}`, `{"l":[1]}`, false},
		{"list order", `{"l":["a","b"]}`, `{"l":["b","a"]}`, false},
		{"null want", `{"a":null}`, `{"a":null}`, true},
		{"bool", `{"a":false}`, `{"a":true}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := contains(decode(t, tc.live), decode(t, tc.want)); got != tc.same {
				t.Fatalf("contains = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestComparableViewIgnoresOwnersAndCairnLabels(t *testing.T) {
	backup := decode(t, `{"metadata":{"name":"a","labels":{"app":"x","cairn.dev/backup":"b1","cairn.dev/restore":"r1"},
		"ownerReferences":[{"uid":"old"}]}}`)
	live := decode(t, `{"metadata":{"name":"a","labels":{"app":"x","cairn.dev/backup":"b2"},"ownerReferences":[{"uid":"new"}]}}`)
	if !contains(live, comparableView(backup)) {
		t.Fatal("owner UIDs or cairn labels make objects differ")
	}
	if _, ok := backup["metadata"].(map[string]any)["ownerReferences"]; !ok {
		t.Fatal("comparableView changed its argument")
	}
}
