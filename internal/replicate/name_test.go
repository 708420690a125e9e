package replicate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	b := []byte("sealed bytes")
	sum := sha256.Sum256(b)
	id := hex.EncodeToString(sum[:])
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"config", true},
		{"keys/" + id, true},
		{"index/" + id, true},
		{"snapshots/" + id, true},
		{"data/" + id[:2] + "/" + id, true},
		{"data/00/" + id, id[:2] == "00"},
		{"index/" + id[:63] + "0", id[63] == '0'},
		{"snapshots/latest", false},
	} {
		err := checkName(tt.key, b)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("checkName(%s) = %v, want ok=%v", tt.key, err, tt.ok)
		}
	}
}
