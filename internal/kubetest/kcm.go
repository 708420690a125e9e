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
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// controllerManager is a running kube-controller-manager.
type controllerManager struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status; valid once done is closed
}

// startControllerManager starts kube-controller-manager against c's API
// server and waits until its /healthz answers.
func (c *Cluster) startControllerManager(extra map[string][]string) error {
	path, err := toolPath("kube-controller-manager")
	if err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "controller-manager")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Its own identity; system:masters so that it needs no bootstrap RBAC
	// and works with --use-service-account-credentials=false.
	_, kubeconfig, err := c.addUser("system:kube-controller-manager", []string{"system:masters"})
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	caPath := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caPath, c.Config.CAData, 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// envtest gives the API server --service-account-key-file and
	// --service-account-signing-key-file from its cert dir; the token
	// controller signs with the matching private key.
	saKey := filepath.Join(c.env.ControlPlane.APIServer.CertDir, "sa-signer.key")
	if _, err := os.Stat(saKey); err != nil {
		return fmt.Errorf("service-account signing key of the API server: %w", err)
	}

	flags := map[string][]string{
		"kubeconfig":   {kubeconfigPath},
		"bind-address": {Loopback},
		"secure-port":  {strconv.Itoa(port)},
		"cert-dir":     {dir},
		"leader-elect": {"false"},
		// All default controllers; the cloud ones are skipped anyway
		// without a cloud provider: say so explicitly.
		"controllers":                      {"*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller"},
		"service-account-private-key-file": {saKey},
		"root-ca-file":                     {caPath},
		"use-service-account-credentials":  {"false"},
		"kube-api-qps":                     {"200"},
		"kube-api-burst":                   {"400"},
	}
	for k, v := range extra {
		flags[k] = v
	}
	var args []string
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range flags[k] {
			args = append(args, "--"+k+"="+v)
		}
	}

	logFile, err := c.openLog("kube-controller-manager.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	m := &controllerManager{cmd: cmd, done: make(chan struct{})}
	c.kcm = m
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	return m.waitHealthy(port, startTimeout)
}

func (m *controllerManager) waitHealthy(port int, timeout time.Duration) error {
	url := "https://" + net.JoinHostPort(Loopback, strconv.Itoa(port)) + "/healthz"
	client := &http.Client{
		Timeout: 2 * time.Second,
		// Its serving certificate is self-signed; this is a liveness probe
		// on loopback, nothing is sent.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.done:
			return fmt.Errorf("kube-controller-manager exited before it was healthy: %v", m.err)
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager not healthy at %s after %s", url, timeout)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, and SIGKILL if it has not exited after stopTimeout.
func (m *controllerManager) stop() error {
	select {
	case <-m.done:
		return nil // already exited (its status is in the log)
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return nil
	case <-time.After(stopTimeout):
		_ = m.cmd.Process.Kill()
		<-m.done
		return errors.New("kube-controller-manager did not stop on SIGTERM; killed")
	}
}
