package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * day}, {"720h", 720 * time.Hour}, {"90m", 90 * time.Minute}, {"1d12h", 36 * time.Hour},
		{"", 0}, {"d", 0}, {"-1d", 0}, {"-5m", 0}, {"0s", 0}, {"3x", 0}, {"1.5d", 0}, {"99999999999d", 0},
	} {
		got, err := parseDuration("--ttl", c.in)
		if got != c.want || (err != nil) != (c.want == 0) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if err != nil && exitCode(err, true) != exitUsage {
			t.Errorf("parseDuration(%q): exit code %d", c.in, exitCode(err, true))
		}
	}
}

func TestDescribeProgress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    sample
		bar  bool
		want string
	}{
		{sample{Done: 50 << 20, Total: 100 << 20, Files: 3, TotalFiles: 9}, false,
			"50.0%, 50.0 MiB / 100.0 MiB, 5.0 MiB/s, ETA 10s, 3 / 9 files"},
		{sample{Done: 50 << 20, Total: 100 << 20, Files: 3, TotalFiles: 9}, true,
			"[==========          ]  50.0%, 50.0 MiB / 100.0 MiB, 5.0 MiB/s, ETA 10s, 3 / 9 files"},
		{sample{Done: 50 << 20, Total: 60 << 20, Files: 3, TotalFiles: 4, Counting: true}, false,
			"50.0 MiB / 60.0 MiB+ (counting), 5.0 MiB/s, 3 / 4 files"},
		{sample{Done: 2, Total: 8, Unit: "packs"}, false, "25.0%, 2 / 8 packs, 0.2 packs/s, ETA 30s"},
		{sample{Done: 1 << 10}, false, "1.0 KiB, 102 B/s, 0 files"},
	} {
		got := strings.Join(describe(c.s, 10*time.Second, c.bar), ", ")
		if got != c.want {
			t.Errorf("describe(%+v)\n got %q\nwant %q", c.s, got, c.want)
		}
	}
}
