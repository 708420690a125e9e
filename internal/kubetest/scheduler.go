package kubetest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// startScheduler starts kube-scheduler against c's API server (default
// profile, no leader election) and waits until its /healthz answers.
func (c *Cluster) startScheduler() error {
	path, err := toolPath("kube-scheduler")
	if err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "scheduler")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Its own identity, in system:masters so that it needs no bootstrap RBAC.
	_, kubeconfig, err := c.addUser("system:kube-scheduler", []string{"system:masters"})
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	flags := map[string][]string{
		"kubeconfig":                {kubeconfigPath},
		"authentication-kubeconfig": {kubeconfigPath},
		"authorization-kubeconfig":  {kubeconfigPath},
		"bind-address":              {Loopback},
		"secure-port":               {strconv.Itoa(port)},
		"cert-dir":                  {dir},
		"leader-elect":              {"false"},
	}
	logFile, err := c.openLog("kube-scheduler.log")
	if err != nil {
		return err
	}
	d, err := startDaemon("kube-scheduler", path, flagArgs(flags), dir, logFile, nil)
	if err != nil {
		return err
	}
	c.scheduler = d
	return d.waitHealthy("https://"+net.JoinHostPort(Loopback, strconv.Itoa(port))+"/healthz", startTimeout, nil)
}
