//go:build unix && !linux

package testbed

import "syscall"

// sysProcAttr puts a child in its own process group so Stop can signal it
// and anything it forks. (Only Linux can also tie the child's life to ours.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
