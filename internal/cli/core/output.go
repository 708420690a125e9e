package core

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Machine reports whether output is for programs (-o json|yaml).
func (a *App) Machine() bool { return a.Output == "json" || a.Output == "yaml" }

// Emit writes v as JSON or YAML, as -o asks. Every command emits one
// stable object or array.
func (a *App) Emit(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if a.Output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
	} else {
		b = append(b, '\n')
	}
	_, err = a.Stdout.Write(b)
	return err
}

// Say prints a human line to stdout unless -q or machine output.
func (a *App) Say(format string, args ...any) {
	if a.Quiet || a.Machine() {
		return
	}
	fmt.Fprintf(a.Stdout, format+"\n", args...)
}

// Warn prints a one-line warning to stderr unless -q.
func (a *App) Warn(format string, args ...any) {
	if a.Quiet {
		return
	}
	fmt.Fprintf(a.Stderr, "cairn: warning: "+format+"\n", args...)
}

// Table returns a tab-separated writer over stdout; Flush it.
func (a *App) Table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
}

// Row writes one tab-separated row.
func Row(w io.Writer, cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// HumanBytes formats n in IEC units ("1.5 MiB").
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for ; (f >= unit || f <= -unit) && i < 6; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i-1])
}

// HumanTime formats a time for tables, in local time.
func HumanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// HumanDuration rounds d for people.
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Fields prints the exported fields of a struct with JSON tags as a
// two-column table (name, value). It shows engine reports whose exact
// fields may grow without the CLI changing: byte counts (fields whose
// JSON name mentions bytes) are shown in IEC units, lists one per line.
func Fields(w io.Writer, v any) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		Row(w, fmt.Sprint(v))
		return
	}
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		label := strings.ReplaceAll(name, "_", " ")
		fv := rv.Field(i)
		switch {
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8:
			Row(w, label, fv.Len())
			for j := 0; j < fv.Len(); j++ {
				Row(w, "", item(fv.Index(j).Interface()))
			}
		case strings.Contains(name, "bytes") && fv.CanInt():
			Row(w, label, fmt.Sprintf("%s (%d)", HumanBytes(fv.Int()), fv.Int()))
		case fv.CanFloat():
			Row(w, label, fmt.Sprintf("%.2f", fv.Float()))
		default:
			Row(w, label, fmt.Sprint(fv.Interface()))
		}
	}
}

// item renders one list element of a report: strings as they are, other
// values as compact JSON.
func item(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ShortID is the first 8 characters of an ID.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Dash shows an empty cell as "-".
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
