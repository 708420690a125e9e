// Command cairn-agent is cairn's node agent (package internal/agent): a
// DaemonSet that backs up and restores the volumes of the pods on its
// node, reading them from the kubelet's pods directory.
//
//	NODE_NAME=node-1 cairn-agent --namespace cairn-system --pods-root /var/lib/kubelet/pods
package main
