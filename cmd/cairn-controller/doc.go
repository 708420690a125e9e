// Command cairn-controller runs cairn in a cluster: it reconciles the
// Backup, Restore, Schedule and BackupLocation resources of one namespace
// (package internal/controller). It runs in a Pod, or outside the cluster
// from a kubeconfig:
//
//	cairn-controller --kubeconfig ~/.kube/config --namespace cairn
package main
