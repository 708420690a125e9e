package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestVeleroArgs(t *testing.T) {
	none := func(string) string { return "" }
	withRepo := func(k string) string {
		if k == "CAIRN_REPOSITORY" {
			return "/srv/backup"
		}
		return ""
	}
	for _, c := range []struct {
		in   string
		env  func(string) string
		want string
	}{
		{"backup create nightly --wait", none, "ctl backup create nightly --wait"},
		{"restore create --from-schedule daily-backup -w", none, "ctl restore create --from-schedule daily-backup -w"},
		{"-o json backup get", none, "-o json ctl backup get"},
		{"schedule create daily --schedule @daily --ttl 720h", withRepo, "ctl schedule create daily --schedule @daily --ttl 720h"},
		{"backup logs nightly", withRepo, "ctl backup logs nightly"},
		{"backup get", withRepo, "backup get"},
		{"--repo /srv/x backup describe nightly", none, "--repo /srv/x backup describe nightly"},
		{"-r=/srv/x restore create --from-backup b", none, "-r=/srv/x restore create --from-backup b"},
		{"backup run nightly", none, "backup run nightly"},
		{"fs backup /data", none, "fs backup /data"},
		{"ctl backup get", none, "ctl backup get"},
		{"", none, ""},
	} {
		in := strings.Fields(c.in)
		got := strings.Join(veleroArgs(in, c.env), " ")
		if got != c.want {
			t.Errorf("veleroArgs(%q) = %q, want %q", c.in, got, c.want)
		}
		if !reflect.DeepEqual(in, strings.Fields(c.in)) {
			t.Errorf("veleroArgs(%q) changed its input", c.in)
		}
	}
}
