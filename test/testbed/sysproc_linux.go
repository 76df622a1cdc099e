package testbed

import "syscall"

// sysProcAttr puts a child in its own process group (so Stop can signal it
// and anything it forks) and has the kernel SIGKILL it if the test binary
// dies without cleaning up (a panic, go test's -timeout, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
