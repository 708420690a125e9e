package layout

import "testing"

func TestGroupResource(t *testing.T) {
	for _, c := range []struct {
		r    Resource
		want string
	}{
		{Resource{Resource: "configmaps"}, "configmaps"},
		{Resource{Group: CoreGroup, Resource: "configmaps"}, "configmaps"},
		{Resource{Group: "apps", Resource: "deployments"}, "deployments.apps"},
	} {
		if got := c.r.GroupResource(); got != c.want {
			t.Errorf("%+v.GroupResource() = %q, want %q", c.r, got, c.want)
		}
	}
	ref, err := ParsePath(ObjectPath("", "configmaps", "shop", "app"))
	if err != nil || ref.GroupResource() != "configmaps" {
		t.Errorf("core object: %q, %v", ref.GroupResource(), err)
	}
}
