package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// installDoc is the page a new user follows after the README.
const installDoc = "../docs/install.md"

// trySection is the heading of the steps that TestInstallDocSteps runs.
const trySection = "## Try it on the test control plane"

// tryFiles are what the steps write in the repository root (they remove
// them at the end; a failed run leaves them, and the test removes them).
var tryFiles = []string{"testbed.env", "testbed.log", "prescaler.log", "prescaler.kubeconfig"}

// docSteps returns the shell block of the section, as written.
func docSteps(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(installDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), trySection+"\n")
	if !ok {
		t.Fatalf("%s has no %q section", installDoc, trySection)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatalf("the %q section has no sh block", trySection)
	}
	return m[1]
}

// TestInstallDocSteps runs the install page's "try it" block, unchanged, in
// the repository root: a new user's path from a checkout to a running
// prescaler on the test control plane, installed with `kubectl apply -k
// deploy/` and running under its ServiceAccount's token. The block checks
// itself as it goes (each wait ends only when the step worked, the final
// grep needs a decision in /metrics); the test adds a deadline, runs it with
// -e, and checks the user's floor was given back.
func TestInstallDocSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	steps := docSteps(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range tryFiles {
			_ = os.Remove(filepath.Join(root, f))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", steps)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so a deadline stops the background jobs too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		stopGroup(cmd.Process.Pid)
		err = <-done
		t.Errorf("the steps did not finish within the deadline")
	}
	// A step that failed leaves the background jobs (the control plane,
	// prescaler) running: stop whatever is left of the group.
	stopGroup(cmd.Process.Pid)
	if err != nil {
		t.Errorf("the steps failed: %v", err)
	}
	text := out.String()
	for _, want := range []string{"inference-hpa", "FloorRaised", "prescaler_leader 1", "restored"} {
		if !strings.Contains(text, want) {
			t.Errorf("the steps' output lacks %q", want)
		}
	}
	t.Logf("output:\n%s", text)
	if t.Failed() {
		for _, f := range []string{"testbed.log", "prescaler.log"} {
			if data, err := os.ReadFile(filepath.Join(root, f)); err == nil {
				t.Logf("%s:\n%s", f, data)
			}
		}
	}
}

// stopGroup stops a process group: SIGTERM (the testbed stops its
// components), then SIGKILL for what is left after a grace period.
func stopGroup(pgid int) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // the group is gone
	}
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
