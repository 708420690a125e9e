package store

import (
	"errors"
	"testing"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"config", true},
		{"data/ab/ab12cd", true},
		{"A-Z_a.z-0.9", true},
		{".hidden/..x/x..", true},
		{"-/_/.tmp", true},
		{"", false},
		{"/abs", false},
		{"/", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"./a", false},
		{"a/./b", false},
		{"a/..", false},
		{"../a", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a b", false},
		{"a\nb", false},
		{"é", false},
		{"a+b", false},
		{"a~", false},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if tt.ok && err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", tt.key, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", tt.key, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"", true},
		{"d", true},
		{"data/", true},
		{"data/a", true},
		{"data/.", true},
		{"data/..", true},
		{".", true},
		{"data/ab/ab12", true},
		{"/", false},
		{"/data", false},
		{"data//", false},
		{"../x", false},
		{"./", false},
		{"a/./b", false},
		{"a b", false},
		{`a\`, false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		err := ValidatePrefix(tt.prefix)
		if tt.ok && err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", tt.prefix, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidKey", tt.prefix, err)
		}
	}
}
