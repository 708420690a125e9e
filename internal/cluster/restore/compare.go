package restore

import (
	"fmt"
)

// contains reports whether live holds every field of want with the same
// value, recursively: maps compare only want's keys (so fields the server
// defaulted or set are ignored), lists must have the same length and
// match element by element, scalars must be equal (numbers by value).
func contains(live, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		for k, wv := range w {
			lv, ok := l[k]
			if !ok {
				if isEmpty(wv) {
					continue
				}
				return false
			}
			if !contains(lv, wv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		if len(l) != len(w) {
			return false
		}
		for i := range w {
			if !contains(l[i], w[i]) {
				return false
			}
		}
		return true
	case nil:
		return isEmpty(live)
	}
	if lf, ok := number(live); ok {
		wf, ok := number(want)
		return ok && lf == wf
	}
	return fmt.Sprint(live) == fmt.Sprint(want) && sameType(live, want)
}

// isEmpty: nil, "", an empty map or list — what the server may omit.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

func sameType(a, b any) bool { return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) }

// comparableView returns a copy of the cleaned backup object reduced to the
// fields that say whether a live object matches it: without owner
// references (their UIDs differ by nature) and without cairn's own labels.
func comparableView(obj map[string]any) map[string]any {
	c := deepCopy(obj).(map[string]any)
	md, _ := c["metadata"].(map[string]any)
	if md != nil {
		delete(md, "ownerReferences")
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, LabelBackup)
			delete(l, LabelRestore)
		}
	}
	return c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
