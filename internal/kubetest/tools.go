package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvTools names the folder holding the real binaries; the Makefile sets it
// to the absolute path of .cache/bin.
const EnvTools = "CAIRN_TOOLS"

// EnvRequireReal, when "1" (or "true"), turns a missing real component into
// a test failure instead of a skip. CI sets it.
const EnvRequireReal = "CAIRN_REQUIRE_REAL"

var toolsDir = sync.OnceValue(func() string {
	if d := os.Getenv(EnvTools); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

// ToolsDir returns the folder `make tools` builds the real binaries into:
// $CAIRN_TOOLS if set, else .cache/bin next to the nearest go.mod above the
// working directory. It returns "" when neither can be found.
func ToolsDir() string { return toolsDir() }

// RealRequired reports whether missing real components must fail tests
// (CAIRN_REQUIRE_REAL=1) rather than skip them.
func RealRequired() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvRequireReal))) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// RequireReal ends the test because the real component described by what
// (e.g. "kube-apiserver (/repo/.cache/bin/kube-apiserver)") is not
// available: it fails the test when CAIRN_REQUIRE_REAL=1, and skips it
// otherwise. Both messages say to run `make tools`.
func RequireReal(t testing.TB, what string) {
	t.Helper()
	requireReal(t, fmt.Sprintf("real component missing: %s; run `make tools` to build it", what))
}

// requireReal fails the test with msg under CAIRN_REQUIRE_REAL=1, and skips
// it otherwise.
func requireReal(t testing.TB, msg string) {
	t.Helper()
	if RealRequired() {
		t.Fatalf("%s (%s=1: failing instead of skipping)", msg, EnvRequireReal)
	}
	t.Skipf("%s (skipping; %s=1 makes this a failure)", msg, EnvRequireReal)
}

// Tool returns the path of the named binary in ToolsDir (e.g. "etcd",
// "kube-apiserver", "kubelet", "versitygw"). When it is missing, Tool calls
// RequireReal, which ends the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := toolPath(name)
	if err != nil {
		RequireReal(t, err.Error())
	}
	return path
}

// toolPath returns the path of an executable binary in ToolsDir, or an
// error that says what is missing.
func toolPath(name string) (string, error) {
	dir := ToolsDir()
	if dir == "" {
		return "", fmt.Errorf("%s (no %s set and no go.mod above the working directory)", name, EnvTools)
	}
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s (%s not found)", name, path)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s (%s is not an executable file)", name, path)
	}
	return path, nil
}

// missingTools returns a description of the first of names that is not
// available, or "".
func missingTools(names ...string) string {
	for _, n := range names {
		if _, err := toolPath(n); err != nil {
			return err.Error()
		}
	}
	return ""
}
