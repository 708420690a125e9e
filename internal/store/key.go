package store

import (
	"fmt"
	"strings"
)

// ValidateKey reports whether key is a valid object key: one or more
// '/'-separated segments of [A-Za-z0-9._-], none of them empty, "." or "..".
// A valid key is therefore never absolute and never ends with '/'. The error
// wraps ErrInvalidKey and says what is wrong, but does not repeat the key:
// callers wrap it with the operation and the key.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := validChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := validSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePrefix reports whether some valid key could start with prefix, as
// List requires. The empty prefix is valid; so are "data/", "data/a" and
// "data/." (a prefix of "data/.x"). "/data", "data//" and "../x" are not. The
// error wraps ErrInvalidKey.
func ValidatePrefix(prefix string) error {
	if err := validChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	// The last segment may be partial: "", "." and ".." can all still grow
	// into a valid segment.
	for _, seg := range segs[:len(segs)-1] {
		if err := validSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

func validChars(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !keyChar(c) && c != '/' {
			return fmt.Errorf("%w: byte %q at %d not allowed", ErrInvalidKey, c, i)
		}
	}
	return nil
}

func validSegment(seg string) error {
	switch seg {
	case "":
		return fmt.Errorf("%w: empty segment (leading, trailing or double '/')", ErrInvalidKey)
	case ".", "..":
		return fmt.Errorf("%w: %q segment", ErrInvalidKey, seg)
	}
	return nil
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
