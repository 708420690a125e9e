package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"
)

// daemon is a long-running component started by this package
// (kube-controller-manager, kube-scheduler, containerd, kubelet) in its own
// process group, killed if the test binary dies.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status; valid once done is closed
}

// startDaemon starts path with args in dir, its output appended to log.
// env, when not nil, replaces the environment.
func startDaemon(name, path string, args []string, dir string, log *os.File, env []string) (*daemon, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// flagArgs turns flags (name without "--") into sorted --name=value
// arguments, one per value.
func flagArgs(flags map[string][]string) []string {
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		for _, v := range flags[k] {
			args = append(args, "--"+k+"="+v)
		}
	}
	return args
}

// waitHealthy polls url until it answers 200 OK, the process exits or
// timeout passes. dial, when not nil, makes the connections (into a node's
// network namespace).
func (d *daemon) waitHealthy(url string, timeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		// Serving certificates are self-signed; this is a liveness probe
		// on loopback, nothing is sent.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: dial}, //nolint:gosec
	}
	defer client.CloseIdleConnections()
	return d.waitUntil(timeout, "healthy at "+url, func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitUntil polls ready every 100 ms until it returns true, the process
// exits or timeout passes; what describes the state waited for.
func (d *daemon) waitUntil(timeout time.Duration, what string, ready func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx) {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited before it was %s: %v", d.name, what, d.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not %s after %s", d.name, what, timeout)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, and SIGKILL if it has not exited after stopTimeout.
func (d *daemon) stop() error {
	select {
	case <-d.done:
		return nil // already exited (its status is in the log)
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(stopTimeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return errors.New(d.name + " did not stop on SIGTERM; killed")
	}
}
