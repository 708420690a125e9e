package core

import (
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a positive duration: Go's syntax ("720h", "90m",
// "1h30m") or days, alone or followed by Go's syntax ("30d", "1d12h").
// flag names the flag in the error.
func ParseDuration(flag, s string) (time.Duration, error) {
	d, err := parseDays(s)
	if err != nil || d <= 0 {
		return 0, BadInput("%s %q: want a positive duration such as 30d, 720h or 90m", flag, s)
	}
	return d, nil
}

func parseDays(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 32)
	if err != nil {
		return 0, err
	}
	d := time.Duration(n) * 24 * time.Hour
	if d/(24*time.Hour) != time.Duration(n) {
		return 0, strconv.ErrRange
	}
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return d + r, nil
}
