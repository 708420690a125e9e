package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

var shared struct {
	mu      sync.Mutex
	main    bool     // Main is running the tests
	opts    options  // what Main was given
	tried   bool     // a start was attempted
	dir     string   // files of the shared cluster
	missing string   // a binary that is not there
	cluster *Cluster // the running cluster, or nil
	err     error    // why it did not start
	took    time.Duration
}

// Main is for TestMain: it runs the tests, makes one control plane available
// to all of them through Shared (started on the first call, so a run that
// needs none pays nothing), stops it and exits. Startup costs seconds, so a
// package with many tests that can share a cluster, each in its own
// Namespace, should use it.
//
//	func TestMain(m *testing.M) { kubetest.Main(m, kubetest.WithControllerManager()) }
func Main(m *testing.M, opts ...Option) {
	os.Exit(runMain(m, opts))
}

func runMain(m *testing.M, opts []Option) int {
	shared.mu.Lock()
	shared.main = true
	shared.opts = buildOptions(opts)
	shared.mu.Unlock()

	// Stop the servers on Ctrl-C / SIGTERM too: they run in their own
	// process groups and would outlive the test binary.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			stopShared()
			os.Exit(130)
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(sig)
		stopShared()
	}()
	return m.Run()
}

func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster != nil {
		_ = shared.cluster.stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// Shared returns the control plane shared by the tests of this binary,
// starting it on the first call (with the options given to Main). The
// package's TestMain must call Main. A missing binary ends the test through
// RequireReal, as with Start; a failed start fails every test that asks.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("kubetest.Shared: the package's TestMain must call kubetest.Main(m)")
	}
	if !shared.tried {
		shared.tried = true
		shared.missing = shared.opts.missing()
		if shared.missing == "" {
			shared.dir, shared.err = os.MkdirTemp("", "cairn-kubetest-")
			if shared.err == nil {
				begin := time.Now()
				shared.cluster, shared.err = start(shared.dir, shared.opts)
				shared.took = time.Since(begin)
			}
		}
	}
	switch {
	case shared.missing != "":
		RequireReal(t, shared.missing)
	case shared.err != nil:
		var ne *nodeError
		if errors.As(shared.err, &ne) {
			requireReal(t, fmt.Sprintf("kubetest: the shared cluster's %v", shared.err))
		}
		t.Fatalf("kubetest: the shared control plane did not start: %v", shared.err)
	}
	return shared.cluster
}

// SharedStartup returns how long the shared control plane took to start
// (zero before Shared started it).
func SharedStartup() time.Duration {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.took
}

// String describes the cluster for logs.
func (c *Cluster) String() string {
	if c == nil || c.Config == nil {
		return "kubetest.Cluster(not started)"
	}
	return fmt.Sprintf("kubetest.Cluster(%s, dir %s)", c.Config.Host, c.Dir)
}
