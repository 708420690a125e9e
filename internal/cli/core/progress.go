package core

import (
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/term"
)

// Sample is the state of long work at one moment, as a progress source
// reports it.
type Sample struct {
	Done, Total int64 // work units: bytes, or items (Unit) when Unit is set
	Unit        string
	Files       int64
	TotalFiles  int64
	Counting    bool // Total and TotalFiles are still growing
}

// Progress display timing.
const (
	ttyInterval   = 200 * time.Millisecond
	plainInterval = 10 * time.Second
)

// StartProgress shows the progress of src on stderr until the returned
// stop is called: a bar redrawn in place on a terminal, a plain line every
// interval otherwise, nothing with -q, --no-progress or -o json|yaml.
func (a *App) StartProgress(label string, src func() Sample) (stop func()) {
	if a.Quiet || a.NoProgress || a.Machine() {
		return func() {}
	}
	fd, tty := a.terminal(a.Stderr)
	every := a.ProgressInterval
	if every == 0 {
		every = plainInterval
		if tty {
			every = ttyInterval
		}
	}
	p := &progress{w: a.Stderr, tty: tty, fd: fd, label: label, src: src, start: a.Now(), now: a.Now}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				if p.tty {
					fmt.Fprint(p.w, "\r\x1b[K")
				}
				return
			case <-t.C:
				p.show()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

type progress struct {
	w     io.Writer
	tty   bool
	fd    int
	label string
	src   func() Sample
	start time.Time
	now   func() time.Time
}

func (p *progress) show() {
	s := p.src()
	elapsed := p.now().Sub(p.start)
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", p.label, strings.Join(describe(s, elapsed, false), ", "))
		return
	}
	line := p.label + " " + strings.Join(describe(s, elapsed, true), "  ")
	if w, _, err := term.GetSize(p.fd); err == nil && w > 1 && len(line) >= w {
		line = line[:w-1]
	}
	fmt.Fprint(p.w, "\r"+line+"\x1b[K")
}

// describe renders a sample as parts of a progress line: percentage (and
// a bar on a terminal), amount done of total, rate, ETA, files.
func describe(s Sample, elapsed time.Duration, bar bool) []string {
	// amount renders done (of total): "1.2 MiB / 3.0 MiB", "2 / 7 packs".
	amount := func(total string) string {
		if s.Unit != "" {
			return fmt.Sprintf("%d%s %s", s.Done, total, s.Unit)
		}
		return HumanBytes(s.Done) + total
	}
	total := " / " + HumanBytes(s.Total)
	if s.Unit != "" {
		total = fmt.Sprintf(" / %d", s.Total)
	}
	var parts []string
	known := s.Total > 0 && !s.Counting
	switch {
	case known:
		frac := min(float64(s.Done)/float64(s.Total), 1)
		pct := fmt.Sprintf("%.1f%%", 100*frac)
		if bar {
			const width = 20
			n := int(frac * width)
			pct = "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] " + fmt.Sprintf("%5.1f%%", 100*frac)
		}
		parts = append(parts, pct, amount(total))
	case s.Total > 0:
		parts = append(parts, amount(total+"+")+" (counting)")
	default:
		parts = append(parts, amount(""))
	}
	rate := 0.0
	if sec := elapsed.Seconds(); sec > 0 {
		rate = float64(s.Done) / sec
	}
	if s.Unit != "" {
		parts = append(parts, fmt.Sprintf("%.1f %s/s", rate, s.Unit))
	} else {
		parts = append(parts, HumanBytes(int64(rate))+"/s")
	}
	if known && rate > 0 && s.Done <= s.Total {
		eta := time.Duration(float64(s.Total-s.Done) / rate * float64(time.Second))
		parts = append(parts, "ETA "+eta.Round(time.Second).String())
	}
	switch {
	case s.TotalFiles > 0:
		parts = append(parts, fmt.Sprintf("%d / %d files", s.Files, s.TotalFiles))
	case s.Files > 0 || s.Unit == "":
		parts = append(parts, fmt.Sprintf("%d files", s.Files))
	}
	return parts
}
