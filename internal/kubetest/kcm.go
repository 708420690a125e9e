package kubetest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

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
	logFile, err := c.openLog("kube-controller-manager.log")
	if err != nil {
		return err
	}
	d, err := startDaemon("kube-controller-manager", path, flagArgs(flags), dir, logFile, nil)
	if err != nil {
		return err
	}
	c.kcm = d
	return d.waitHealthy("https://"+net.JoinHostPort(Loopback, strconv.Itoa(port))+"/healthz", startTimeout, nil)
}
