package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// The kill tests run the agent and the controller as processes of their
// own — this test binary started again with childRole set, running what
// cmd/cairn-agent and cmd/cairn-controller run (agent.Run,
// controller.Run) — so that they can be SIGKILLed: no deferred function,
// no context cancellation, no lease release runs.
const (
	childRole       = "CAIRN_TEST_CHILD"
	childKubeconfig = "CAIRN_TEST_CHILD_KUBECONFIG"
	childNamespace  = "CAIRN_TEST_CHILD_NAMESPACE"
	childNode       = "CAIRN_TEST_CHILD_NODE"
	childRoot       = "CAIRN_TEST_CHILD_ROOT"
)

// runChild runs the process of role and returns its exit code.
func runChild(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(childKubeconfig))
	if err == nil {
		ns := os.Getenv(childNamespace)
		switch role {
		case "agent":
			err = agent.Run(ctx, cfg, agent.ManagerOptions{
				Options:     agent.Options{Node: os.Getenv(childNode), Namespace: ns, Root: os.Getenv(childRoot), ProgressInterval: 100 * time.Millisecond, ReleaseInterval: time.Second},
				MetricsAddr: "0", ProbeAddr: "0", Log: log,
			})
		case "controller":
			err = controller.Run(ctx, cfg, controller.ManagerOptions{
				Options:        controller.Options{Namespace: ns, VolumeTimeout: 3 * time.Minute, RestoreWaitImage: kubetest.BusyboxImage},
				LeaderElection: true, MetricsAddr: "0", ProbeAddr: "0", Log: log,
			})
		default:
			err = fmt.Errorf("unknown role %q", role)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

// proc is a running child process.
type proc struct {
	role string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is gone
	log  string
}

// startProc starts role ("agent" or "controller") for the test's
// namespace and node as a child process; it is killed when the test ends.
func (e *env) startProc(t *testing.T, role string) *proc {
	t.Helper()
	log := filepath.Join(t.TempDir(), role+".log")
	f, err := os.Create(log)
	must(t, err)
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRole+"="+role, childKubeconfig+"="+e.c.Kubeconfig,
		childNamespace+"="+e.ns, childNode+"="+e.n.Name, childRoot+"="+e.n.PodsDir)
	cmd.Stdout, cmd.Stderr = f, f
	must(t, cmd.Start())
	p := &proc{role: role, cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			b, _ := os.ReadFile(log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s (pid %d) log, last lines:\n%s", role, cmd.Process.Pid, b)
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s (pid %d) still runs 30s after SIGKILL", p.role, p.cmd.Process.Pid)
	}
}

// agentUp reports whether the node's agent holds a fresh lease.
func (e *env) agentUp(ctx context.Context) bool {
	nodes, err := agentlease.Nodes(ctx, e.cl, e.ns, time.Now())
	return err == nil && nodes[e.n.Name]
}
