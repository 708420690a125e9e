package kubetest

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// kubeletConfig is the node's KubeletConfiguration. Each setting is there
// because these machines need it (docs/design/test-node.md):
//   - cgroupfs, no QoS cgroups, nothing enforced on node allocatable: the
//     cgroup layout here is a hybrid v1 one without systemd;
//   - failSwapOn/failCgroupV1 false: the kubelet would refuse to start;
//   - address 127.0.0.1, no read-only port, anonymous access allowed: the
//     kubelet serves on loopback only;
//   - resolvConf "": pods use hostNetwork and no DNS;
//   - makeIPTablesUtilChains false: the host's firewall is left alone;
//   - ports, log and plugin folders of its own, so that parallel runs do
//     not collide;
//   - no eviction and no image garbage collection for a full disk: the
//     disk is shared (a benchmark's datasets and repositories can take
//     it below the kubelet's default 15 % imagefs threshold, which evicts
//     the test's pods), and the images are imported locally, so a
//     collected image could not be pulled again.
func kubeletConfig(address, socket string, port, healthzPort int, dir string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"apiVersion":             "kubelet.config.k8s.io/v1beta1",
		"kind":                   "KubeletConfiguration",
		"cgroupDriver":           "cgroupfs",
		"cgroupsPerQOS":          false,
		"enforceNodeAllocatable": []string{},
		"failSwapOn":             false,
		"failCgroupV1":           false,
		"address":                address,
		"port":                   port,
		"readOnlyPort":           0,
		"healthzBindAddress":     Loopback,
		"healthzPort":            healthzPort,
		"resolvConf":             "",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": true},
			"webhook":   map[string]any{"enabled": false},
		},
		"authorization":            map[string]any{"mode": "AlwaysAllow"},
		"containerRuntimeEndpoint": "unix://" + socket,
		// The kubelet would add KUBE-FIREWALL and canary chains to the
		// host's iptables (for kube-proxy, which does not run here), and
		// leave them there.
		"makeIPTablesUtilChains": false,
		"podLogsDir":             filepath.Join(dir, "pod-logs"),
		"volumePluginDir":        filepath.Join(dir, "volume-plugins"),
		"evictionHard": map[string]string{
			"memory.available": "100Mi", "nodefs.available": "0%", "nodefs.inodesFree": "0%",
			"imagefs.available": "0%", "imagefs.inodesFree": "0%",
		},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
	}, "", "  ")
}

// startKubelet starts the kubelet as node n of c and waits until its
// /healthz answers.
func (n *Node) startKubelet(c *Cluster) error {
	path, err := toolPath("kubelet")
	if err != nil {
		return err
	}
	dir := filepath.Join(n.Dir, "kubelet-conf")
	for _, d := range []string{dir, n.KubeletRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The node's identity (system:nodes), in system:masters so that it
	// needs no bootstrap RBAC or CSR approval.
	_, kubeconfig, err := c.addUser("system:node:"+n.Name, []string{"system:nodes", "system:masters"})
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
	healthzPort, err := freePort()
	if err != nil {
		return err
	}
	config, err := kubeletConfig(n.IP, n.ContainerdSocket, port, healthzPort, dir)
	if err != nil {
		return err
	}
	configPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	flags := map[string][]string{
		"config":            {configPath},
		"kubeconfig":        {kubeconfigPath},
		"root-dir":          {n.KubeletRoot},
		"cert-dir":          {filepath.Join(dir, "pki")},
		"hostname-override": {n.Name},
		// On the host's network it logs that a loopback node IP is
		// invalid and reports no address: everything but exec, logs and
		// port-forward works. WithNodeNetwork gives it a real one.
		"node-ip": {n.IP},
		"v":       {"1"},
	}
	log, err := n.openLog("kubelet.log")
	if err != nil {
		return err
	}
	cmd, args, err := n.command(path, flagArgs(flags))
	if err != nil {
		return err
	}
	if n.kubelet, err = startDaemon("kubelet", cmd, args, dir, log, nodeEnv()); err != nil {
		return err
	}
	return n.kubelet.waitHealthy("http://"+net.JoinHostPort(Loopback, strconv.Itoa(healthzPort))+"/healthz", startTimeout, n.dialer())
}
