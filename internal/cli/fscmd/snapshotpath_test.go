package fscmd

import (
	"testing"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

func TestSnapshotPath(t *testing.T) {
	t.Parallel()
	one := &snapshot.Snapshot{Paths: []string{"/srv/data"}, Root: &snapshot.Node{}}
	two := &snapshot.Snapshot{Paths: []string{"/etc/app", "/srv/data"}}
	for _, c := range []struct {
		sn       *snapshot.Snapshot
		in, want string
	}{
		{one, "/srv/data/a/b", "a/b"}, {one, "/srv/data", ""}, {one, "a/b/", "a/b"}, {one, "/", ""},
		{one, "/srv/database", "srv/database"}, {two, "/srv/data/x", "data/x"}, {two, "/etc/app", "app"}, {two, "app/conf", "app/conf"},
	} {
		if got := snapshotPath(c.sn, c.in); got != c.want {
			t.Errorf("snapshotPath(%v, %q) = %q, want %q", c.sn.Paths, c.in, got, c.want)
		}
	}
}
