package core

import (
	"strings"
	"testing"
	"time"
)

func TestDescribeProgress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    Sample
		bar  bool
		want string
	}{
		{Sample{Done: 50 << 20, Total: 100 << 20, Files: 3, TotalFiles: 9}, false,
			"50.0%, 50.0 MiB / 100.0 MiB, 5.0 MiB/s, ETA 10s, 3 / 9 files"},
		{Sample{Done: 50 << 20, Total: 100 << 20, Files: 3, TotalFiles: 9}, true,
			"[==========          ]  50.0%, 50.0 MiB / 100.0 MiB, 5.0 MiB/s, ETA 10s, 3 / 9 files"},
		{Sample{Done: 50 << 20, Total: 60 << 20, Files: 3, TotalFiles: 4, Counting: true}, false,
			"50.0 MiB / 60.0 MiB+ (counting), 5.0 MiB/s, 3 / 4 files"},
		{Sample{Done: 2, Total: 8, Unit: "packs"}, false, "25.0%, 2 / 8 packs, 0.2 packs/s, ETA 30s"},
		{Sample{Done: 1 << 10}, false, "1.0 KiB, 102 B/s, 0 files"},
	} {
		got := strings.Join(describe(c.s, 10*time.Second, c.bar), ", ")
		if got != c.want {
			t.Errorf("describe(%+v)\n got %q\nwant %q", c.s, got, c.want)
		}
	}
}
