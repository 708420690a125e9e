package cli

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

// machine reports whether output is for programs (-o json|yaml).
func (a *app) machine() bool { return a.output == "json" || a.output == "yaml" }

// emit writes v as JSON or YAML, as -o asks. Every command emits one
// stable object or array.
func (a *app) emit(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if a.output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
	} else {
		b = append(b, '\n')
	}
	_, err = a.stdout.Write(b)
	return err
}

// say prints a human line to stdout unless -q or machine output.
func (a *app) say(format string, args ...any) {
	if a.quiet || a.machine() {
		return
	}
	fmt.Fprintf(a.stdout, format+"\n", args...)
}

// warn prints a one-line warning to stderr unless -q.
func (a *app) warn(format string, args ...any) {
	if a.quiet {
		return
	}
	fmt.Fprintf(a.stderr, "cairn: warning: "+format+"\n", args...)
}

// table returns a tab-separated writer over stdout; Flush it.
func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
}

// row writes one tab-separated row.
func row(w io.Writer, cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// humanBytes formats n in IEC units ("1.5 MiB").
func humanBytes(n int64) string {
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

// humanTime formats a time for tables, in local time.
func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// humanDuration rounds d for people.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// fields prints the exported fields of a struct with JSON tags as a
// two-column table (name, value). It shows engine reports whose exact
// fields may grow without the CLI changing: byte counts (fields whose
// JSON name mentions bytes) are shown in IEC units, lists one per line.
func fields(w io.Writer, v any) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		row(w, fmt.Sprint(v))
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
			row(w, label, fv.Len())
			for j := 0; j < fv.Len(); j++ {
				row(w, "", item(fv.Index(j).Interface()))
			}
		case strings.Contains(name, "bytes") && fv.CanInt():
			row(w, label, fmt.Sprintf("%s (%d)", humanBytes(fv.Int()), fv.Int()))
		case fv.CanFloat():
			row(w, label, fmt.Sprintf("%.2f", fv.Float()))
		default:
			row(w, label, fmt.Sprint(fv.Interface()))
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

// shortID is the first 8 characters of an ID.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// dash shows an empty cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
