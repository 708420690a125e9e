package main

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// tb lets kubetest.Start run outside a test: failures panic (run recovers
// and stops the cluster), cleanups run in stop.
type tb struct {
	testing.TB // nil: only the methods below are called
	dir        string
	mu         sync.Mutex
	cleanups   []func()
	failed     bool
}

func (t *tb) Helper()                 {}
func (t *tb) Name() string            { return "bench" }
func (t *tb) TempDir() string         { return t.dir }
func (t *tb) Failed() bool            { return t.failed }
func (t *tb) Log(args ...any)         { fmt.Fprintln(os.Stderr, args...) }
func (t *tb) Logf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (t *tb) Errorf(f string, a ...any) {
	t.failed = true
	t.Logf(f, a...)
}
func (t *tb) Fatalf(f string, a ...any) { t.failed = true; panic(fmt.Sprintf(f, a...)) }
func (t *tb) Fatal(a ...any)            { t.failed = true; panic(fmt.Sprint(a...)) }
func (t *tb) Skipf(f string, a ...any)  { t.Fatalf(f, a...) }
func (t *tb) Cleanup(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, fn)
}

type cluster struct {
	*kubetest.Cluster
	t *tb
}

func startCluster() (c *cluster, err error) {
	dir, err := os.MkdirTemp("", "cairn-bench-restore-")
	if err != nil {
		return nil, err
	}
	t := &tb{dir: dir}
	defer func() {
		if p := recover(); p != nil {
			(&cluster{t: t}).stop()
			err = fmt.Errorf("starting the control plane: %v", p)
		}
	}()
	// envtest's default service range (a /24) holds too few services.
	return &cluster{Cluster: kubetest.Start(t, kubetest.WithControllerManager(),
		kubetest.WithAPIServerFlag("service-cluster-ip-range", "10.96.0.0/16")), t: t}, nil
}

func (c *cluster) stop() {
	for i := len(c.t.cleanups) - 1; i >= 0; i-- {
		c.t.cleanups[i]()
	}
	_ = os.RemoveAll(c.t.dir)
}
