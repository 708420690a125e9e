// Package core is what every family of cairn's commands shares: the
// invocation (App: streams, environment, clock, global flags), the
// argument checks and bad-usage errors, output (tables, -o json|yaml, say,
// warn), opening the repository (local or S3, passphrase, retention),
// progress, and — outside the fsonly build — the kubeconfig and the ctl
// commands' connection (kube.go, kubeconfig.go).
//
// It holds no command; the families (fscmd, clustercmd, ctlcmd) do, and
// package cli puts them into one tree and maps errors to exit codes. Like
// the rest of the CLI, it keeps no global state.
package core
