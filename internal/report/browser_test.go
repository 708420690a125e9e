package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/testenv"
)

// chromium returns the headless browser: $CAIRN_CHROMIUM, else chromium
// on PATH (Debian's package, installed by hack/node-deps.sh).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAIRN_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		testenv.RequireReal(t, "chromium (headless browser)", err)
	}
	return p
}

// The HTML report in a real browser at a phone's size (390×844): the page
// renders (a screenshot of that width with text on it), and the DOM holds
// the namespaces, the findings and their controls.
func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	last := now.Add(-26 * time.Hour)
	rep := &Report{
		Schema: Schema, Generated: now,
		Period:     Period{From: now.Add(-72 * time.Hour).Truncate(24 * time.Hour), To: now, Days: 4},
		Repository: Repository{Location: "s3://backups/cluster-a", ID: "0123abcd"},
		Coverage: []Coverage{
			{Namespace: "shop", LastBackup: &last, LastBackupName: "daily-20261201000000", DaysExpected: 3, DaysCovered: 2, MissedDays: []string{"2026-11-30"}},
			{Namespace: "blog-with-a-rather-long-namespace-name", DaysExpected: 3},
		},
		Retention:  []Retention{{Schedule: "daily-backup", TTLs: []string{"720h0m0s"}, Backups: 2, Oldest: &last, Newest: &last}},
		Protection: Protection{Cipher: "AES-256-GCM", KDFs: []string{"argon2id m=65536 t=3 p=4"}, Keys: 1, Backups: 2},
		Findings: []Finding{
			{Control: ControlBackup, Text: "namespace shop: no successful backup on 1 of 3 days (2026-11-30)"},
			{Control: ControlProtected, Text: "the repository has no object lock"},
		},
		Backups: []BackupEntry{{Name: "daily-20261201000000", Phase: "Completed", Start: last, Items: 42}},
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := HTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(dir, "profile")}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	dom := string(run("--dump-dom", "file://"+page))
	for _, want := range []string{"shop", "blog-with-a-rather-long-namespace-name", "no successful backup on 1 of 3 days", ControlBackup, "AES-256-GCM", "daily-20261201000000"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "phone.png")
	run("--window-size=390,844", "--hide-scrollbars", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != 390 {
		t.Errorf("screenshot is %d px wide, want the phone's 390", b.Dx())
	}
	// Text is drawn: enough dark pixels in the top half (the heading and
	// the findings).
	dark := 0
	for y := b.Min.Y; y < b.Min.Y+b.Dy()/2; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r+g+bl < 3*0x6000 {
				dark++
			}
		}
	}
	if dark < 500 {
		t.Errorf("the screenshot shows almost nothing (%d dark pixels in the top half)", dark)
	}
	t.Logf("screenshot: %dx%d, %d dark pixels in the top half", b.Dx(), b.Dy(), dark)
	if keep := os.Getenv("CAIRN_KEEP_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(keep, data, 0o644)
	}
}
