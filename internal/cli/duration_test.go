package cli

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/cli/core"
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
		got, err := core.ParseDuration("--ttl", c.in)
		if got != c.want || (err != nil) != (c.want == 0) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if err != nil && exitCode(err, true) != exitUsage {
			t.Errorf("parseDuration(%q): exit code %d", c.in, exitCode(err, true))
		}
	}
}
