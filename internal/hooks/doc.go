// Package hooks runs application-consistent backup hooks: commands run in
// a pod's container, through the API server's exec, before the node agent
// backs up the pod's volumes (pre hooks: flush, freeze, dump) and after it
// finished (post hooks: thaw), whatever the result.
//
// A pod's hooks come from its annotations, as Velero spells them:
//
//	pre.hook.backup.velero.io/command    a JSON array, e.g. ["/bin/sh","-c","sync"]
//	pre.hook.backup.velero.io/container  default: the pod's first container
//	pre.hook.backup.velero.io/on-error   Fail (default) or Continue
//	pre.hook.backup.velero.io/timeout    a Go duration, default 30s
//
// and the same with post. in front; or, for a phase without a command
// annotation, from the Backup's spec.hooks.resources whose namespace
// patterns and label selector match the pod (annotations take precedence,
// phase by phase, as in Velero). The command is not run through a shell unless it names one.
//
// What a failure means is the caller's: the controller treats a pre hook
// that fails with on-error Fail as the failure of that pod's volumes (they
// are not backed up; the backup is PartiallyFailed with the reason), never
// of the whole backup; with Continue it is a warning. A hook fails when its
// command exits non-zero, when it runs longer than its timeout, or when it
// cannot be started (no such container, the pod gone, exec refused).
//
// Hooks run only in the pods whose volumes the backup copies (Running,
// on a node with an agent, with volumes selected): they exist to make that
// copy consistent. A hook that runs past its timeout is reported as failed
// when the timeout ends; the exec stream is closed then, but the process
// it started may go on in the container.
//
// Exec goes through the API server (pods/exec), which connects to the
// kubelet: the WebSocket protocol first, SPDY when the server does not
// offer it (client-go's fallback executor).
package hooks
