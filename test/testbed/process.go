package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prescaler/prescaler/internal/freeport"
)

// process is one component: a binary, its arguments and its log file. It can
// be started and stopped any number of times (for fault tests); each run
// appends to the same log.
type process struct {
	name    Component
	bin     string
	args    []string
	env     []string // nil: inherit
	logPath string
	// ready reports nil once the component serves; polled after each start.
	ready func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited and been reaped
	err  error         // the current run's exit status, valid once done is closed
	pids []int         // every pid ever started, for leak checks
}

// start launches the process in its own process group, with stdout and
// stderr appended to its log file.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== testbed %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f // a file: no copying goroutines, Wait never blocks on pipes
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	p.pids = append(p.pids, cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== testbed %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), exitStatus(err))
		_ = f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and returns
// once the process has been reaped. Stopping a stopped process is a no-op.
func (p *process) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pid := cmd.Process.Pid
	if !isClosed(done) {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(grace):
			_ = killGroup(pid)
			<-done
		}
	}
	// Anything the component forked into its group goes with it.
	_ = killGroup(pid)
}

// running reports whether the current run is alive.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

// exited returns a channel closed when the current run exits (nil if never
// started) and a func returning its exit error.
func (p *process) exited() (<-chan struct{}, func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
}

// waitReady polls p.ready until it succeeds, the process exits, or timeout.
// Errors carry the tail of the component's log.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	if p.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done, exitErr := p.exited()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		last = p.ready(rctx)
		rcancel()
		if last == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited during start-up (%v); log %s ends:\n%s", p.name, exitStatus(exitErr()), p.logPath, tail(p.logPath, 30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last check: %v); log %s ends:\n%s", p.name, timeout, last, p.logPath, tail(p.logPath, 30))
		case <-tick.C:
		}
	}
}

// livePIDs returns the pids this process ever had that still exist.
func (p *process) livePIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var live []int
	for _, pid := range p.pids {
		if syscall.Kill(pid, 0) == nil {
			live = append(live, pid)
		}
	}
	return live
}

func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of a file (at most 64 KiB are read).
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + string(bytes.Join(lines, []byte("\n  ")))
}

// freePorts returns n distinct loopback ports for the components, chosen
// outside the kernel's ephemeral range so that no client connection of a
// test running beside this one takes one before the component binds it.
func freePorts(n int) ([]int, error) {
	return freeport.Ports(n)
}
