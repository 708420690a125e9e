package kubetest

import "syscall"

// sysProcAttr puts a child in its own process group and kills it if the test
// binary dies without stopping it (e.g. on a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
