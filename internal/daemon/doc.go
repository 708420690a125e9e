// Package daemon is what cairn's two in-cluster programs, cairn-controller
// and cairn-agent, share around their reconcilers: the connection to the
// cluster (in-cluster config, else a kubeconfig as kubectl finds it), the
// defaults their flags take from the environment, the JSON logger, and the
// controller-runtime manager (scheme, namespaced cache, metrics and probe
// endpoints, health checks, leader election). Each program's package
// (controller, agent) adds its reconcilers to the manager; nothing here
// knows what they do.
package daemon
