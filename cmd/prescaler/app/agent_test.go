package app_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/prescaler/prescaler/cmd/prescaler/app"
	"github.com/prescaler/prescaler/internal/freeport"
)

// freeAddr is a loopback address with a port free a moment ago, outside
// the ephemeral range other tests' client connections draw from.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// agentRun is `prescaler agent` running in the background.
type agentRun struct {
	base   string // http://host:port
	done   chan error
	stderr *bytes.Buffer // read only after done
}

// startAgent runs the agent with args on a free port and waits for /healthz.
func startAgent(t *testing.T, ctx context.Context, args ...string) agentRun {
	t.Helper()
	addr := freeAddr(t)
	r := agentRun{base: "http://" + addr, done: make(chan error, 1), stderr: &bytes.Buffer{}}
	root := app.NewRootCommand(io.Discard, r.stderr)
	root.SetArgs(append([]string{"agent", "--listen", addr}, args...))
	go func() { r.done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-r.done:
			t.Fatalf("agent exited before serving: %v\n%s", err, r.stderr)
		default:
		}
		if resp, err := http.Get(r.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("agent did not serve /healthz within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the agent to exit and returns its logs and error.
func (r agentRun) wait(t *testing.T) (string, error) {
	t.Helper()
	select {
	case err := <-r.done:
		return r.stderr.String(), err
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop within 15s")
		return "", nil
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

// TestAgentWithoutDriver starts the agent on a machine without NVML (an
// absent library path, so that a GPU machine behaves the same) and without
// the kubelet socket: it serves nvml_up 0 and no GPU series, says so once in
// the log, and stops when its context is cancelled.
func TestAgentWithoutDriver(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startAgent(t, ctx, "--node-name", "gpu-node-7",
		"--nvml-library", filepath.Join(dir, "libnvidia-ml.so.1"),
		"--pod-resources-socket", filepath.Join(dir, "kubelet.sock"))

	var metrics string
	for range 3 {
		metrics = httpGet(t, r.base+"/metrics")
	}
	for _, want := range []string{
		`prescaler_agent_nvml_up{node="gpu-node-7"} 0`,
		`prescaler_agent_scrape_errors_total{node="gpu-node-7",source="nvml"} 0`,
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "prescaler_agent_gpu_") {
		t.Errorf("GPU series without a driver:\n%s", metrics)
	}
	problems, err := promlint.New(strings.NewReader(metrics)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "prescaler_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	if body := httpGet(t, r.base+"/healthz"); body != "ok\n" {
		t.Errorf("/healthz = %q", body)
	}

	cancel()
	logs, err := r.wait(t)
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, logs)
	}
	if n := strings.Count(logs, "NVML unavailable"); n != 1 {
		t.Errorf("NVML unavailable logged %d times over a start and 3 scrapes, want once:\n%s", n, logs)
	}
	// Why NVML is unavailable (no library, or no cgo) is tested in collector/nvml.
	for _, want := range []string{
		"kubelet pod-resources socket not available",
		"serving /metrics and /healthz",
		"shutting down",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if _, err := http.Get(r.base + "/healthz"); err == nil {
		t.Error("still serving after the context was cancelled")
	}
}

// TestAgentSIGTERM: SIGTERM stops the agent cleanly; the node name comes
// from $NODE_NAME.
func TestAgentSIGTERM(t *testing.T) {
	t.Setenv("NODE_NAME", "from-downward-api")
	r := startAgent(t, context.Background(), "--pod-resources-socket", "",
		"--nvml-library", filepath.Join(t.TempDir(), "libnvidia-ml.so.1"), "--log-format", "json")
	if m := httpGet(t, r.base+"/metrics"); !strings.Contains(m, `prescaler_agent_nvml_up{node="from-downward-api"} 0`) {
		t.Errorf("node label not from $NODE_NAME:\n%s", m)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs, err := r.wait(t)
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, logs)
	}
	for _, want := range []string{`"msg":"pod attribution off`, `"msg":"shutting down"`, `"node":"from-downward-api"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestAgentFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "9400"}, `--listen "9400"`},
		{[]string{"--collect-timeout", "0s"}, "--collect-timeout 0s must be positive"},
		{[]string{"--log-format", "xml"}, `--log-format "xml" must be text or json`},
		{[]string{"--log-level", "loud", "--shutdown-timeout", "-1s"}, "--shutdown-timeout -1s must be positive\n--log-level"},
	} {
		_, stderr, err := runCLI(t, append([]string{"agent", "--node-name", "n"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent %s: error %v, want %q\n%s", strings.Join(tc.args, " "), err, tc.want, stderr)
		}
	}
}

func TestAgentPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, _, err = runCLI(t, "agent", "--node-name", "n", "--listen", ln.Addr().String(),
		"--pod-resources-socket", "", "--nvml-library", filepath.Join(t.TempDir(), "none.so"))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %v, want address already in use", err)
	}
}
