package local

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CleanTemp removes temporary files older than olderThan, which a crash or
// a kill in the middle of a Put leaves behind, and returns how many it
// removed. olderThan must be longer than any Put takes (an hour is safe): a
// Put whose temporary file is removed fails.
func (l *Local) CleanTemp(olderThan time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(l.tmp)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("local: clean temp: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue // gone already, or maybe still being written
		}
		if err := os.Remove(filepath.Join(l.tmp, e.Name())); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("local: clean temp: %w", err)
		}
		removed++
	}
	return removed, nil
}
