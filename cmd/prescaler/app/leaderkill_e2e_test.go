package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/prescaler/prescaler/internal/freeport"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// The Lease settings of the two processes, and the loop interval.
const (
	killLeaseDuration = 6 * time.Second
	killInterval      = 2 * time.Second
	killRetryPeriod   = time.Second
	// killMargin is what client-go's timing adds beyond leaseDuration plus
	// one interval. The follower dates the lease from when it saw the
	// leader's last renewal, on a poll up to 2.2 retry periods late
	// (wait.JitterUntil, jitter 1.2), and after expiry tries again up to
	// 2.2 retry periods later: 4.4 s at worst, of which the interval covers
	// 2 s; 1.1 s more is for the first loop on a loaded 2-core machine.
	killMargin = 3500 * time.Millisecond
	killLease  = "prescaler-kill"
)

// Two `prescaler run` processes share a Lease; the leader is killed with
// SIGKILL, so it never releases the Lease and the follower must wait for it
// to expire. Asserted:
//   - the follower takes the Lease no sooner than leaseDuration less two
//     retry periods after the kill (the leader renewed at most a retry
//     period before it: an earlier takeover would mean a release), and
//     writes a changed floor within leaseDuration + one interval +
//     killMargin (6 s + 2 s + 3.5 s) of the kill (measured 6.2–9.3 s);
//   - the HPA still has exactly one managedFields entry of the `prescaler`
//     field manager, shared by both processes;
//   - the survivor's /metrics show it looping, no write conflict
//     (prescaler_write_conflicts_total absent or 0) and no failed write
//     (prescaler_write_errors_total absent or 0).
//
// The change that needs a write: demand asks for 12 replicas while only the
// 8 GPUs of gpu-a are schedulable (gpu-b, 4 GPUs, is cordoned), so the
// leader holds the floor at 8. Right after the kill gpu-b is uncordoned and
// only the survivor can raise the floor to 12.
func TestLeaderKilledWithoutReleasingTheLease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts a control plane")
	}
	bin := buildPrescaler(t)
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 600 })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range []testbed.NodeSpec{testbed.GPUNode("gpu-a", 8), testbed.GPUNode("gpu-b", 4)} {
		if _, err := env.AddNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	cordon(ctx, t, env, "gpu-b", true)
	seedWorkload(ctx, t, env.Client)
	cfgPath := writeKillConfig(t, env)

	procs := []*prescalerProc{startPrescaler(ctx, t, bin, cfgPath, env.Kubeconfig, "a"),
		startPrescaler(ctx, t, bin, cfgPath, env.Kubeconfig, "b")}
	testbed.WaitFor(ctx, t, "both processes serving /metrics", func() (bool, error) {
		for _, p := range procs {
			if _, err := p.metrics(ctx); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	testbed.WaitFor(ctx, t, "the leader's floor 8 (gpu_capacity)", func() (bool, error) { return hpaFloor(ctx, t, env) == 8, nil })
	leader, survivor := whoLeads(ctx, t, env, procs)
	t.Logf("leader %s (%s), follower %s", leader.name, leader.identity(t), survivor.name)

	killed := leader.kill(t)
	cordon(ctx, t, env, "gpu-b", false)
	var took, wrote time.Duration
	testbed.WaitFor(ctx, t, "the survivor to take the Lease and raise the floor to 12", func() (bool, error) {
		if took == 0 && leaseHolder(ctx, t, env) == survivor.identity(t) {
			took = time.Since(killed)
		}
		if wrote == 0 && hpaFloor(ctx, t, env) == 12 {
			wrote = time.Since(killed)
		}
		return took > 0 && wrote > 0, nil
	})
	t.Logf("after SIGKILL: Lease taken in %s, floor 12 written in %s", took.Round(time.Millisecond), wrote.Round(time.Millisecond))
	if least := killLeaseDuration - 2*killRetryPeriod; took < least {
		t.Errorf("the survivor took the Lease %s after the kill, before it could expire (%s)", took, least)
	}
	if limit := killLeaseDuration + killInterval + killMargin; wrote > limit {
		t.Errorf("the survivor wrote %s after the kill, more than leaseDuration + interval + margin = %s", wrote, limit)
	}
	checkOneFieldManager(ctx, t, env)
	checkSurvivorMetrics(ctx, t, survivor)
}

// buildPrescaler builds the binary under test into a temporary folder.
func buildPrescaler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prescaler")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // a cold cache takes minutes on 2 cores
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "github.com/prescaler/prescaler/cmd/prescaler")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // the NVML agent's C bindings are not needed here
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(began).Round(time.Millisecond))
	return bin
}

func goTool() string {
	if path, err := exec.LookPath("go"); err == nil {
		return path
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// writeKillConfig writes the processes' shared config: leader election on,
// a demand of 600 req/min at 50 per replica (12 replicas).
func writeKillConfig(t *testing.T, env *testbed.Env) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, path, fmt.Sprintf(`
interval: %s
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: true, namespace: default, leaseName: %s, leaseDuration: %s, renewDeadline: 4s, retryPeriod: %s}
targets:
  - {name: ai-inference, namespace: default, hpa: inference-hpa, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, killInterval, env.PrometheusURL, killLease, killLeaseDuration, killRetryPeriod))
	return path
}

// prescalerProc is one `prescaler run` process.
type prescalerProc struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	logPath string
	done    chan struct{}
}

// startPrescaler starts `prescaler run` with its own metrics address (the
// PRESCALER_SERVER_ADDRESS override); t.Cleanup kills it and waits for it.
func startPrescaler(ctx context.Context, t *testing.T, bin, cfgPath, kubeconfig, name string) *prescalerProc {
	t.Helper()
	p := &prescalerProc{name: name, addr: freeAddr(t), logPath: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfgPath, "--kubeconfig", kubeconfig, "--log-format", "json")
	p.cmd.Env = append(os.Environ(), "PRESCALER_SERVER_ADDRESS="+p.addr)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); _ = logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			logTail(t, p)
		}
	})
	return p
}

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

// kill sends SIGKILL, waits for the process to be gone and returns when it
// was sent: nothing releases the Lease.
func (p *prescalerProc) kill(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	return at
}

// identity is the Lease identity the process logged when it started leading
// ("" if it never did).
func (p *prescalerProc) identity(t *testing.T) string {
	t.Helper()
	f, err := os.Open(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct{ Msg, Identity string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "leading" {
			id = line.Identity
		}
	}
	return id
}

// metrics returns the process's /metrics exposition.
func (p *prescalerProc) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), err
}

func logTail(t *testing.T, p *prescalerProc) {
	t.Helper()
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	t.Logf("process %s log ends:\n%s", p.name, strings.Join(lines[max(0, len(lines)-20):], "\n"))
}

// whoLeads returns the process holding the Lease and the other one.
func whoLeads(ctx context.Context, t *testing.T, env *testbed.Env, procs []*prescalerProc) (leader, follower *prescalerProc) {
	t.Helper()
	holder := leaseHolder(ctx, t, env)
	for i, p := range procs {
		if p.identity(t) == holder {
			return p, procs[1-i]
		}
	}
	t.Fatalf("Lease holder %q is neither process (identities %q, %q)", holder, procs[0].identity(t), procs[1].identity(t))
	return nil, nil
}

func leaseHolder(ctx context.Context, t *testing.T, env *testbed.Env) string {
	t.Helper()
	lease, err := env.Client.CoordinationV1().Leases("default").Get(ctx, killLease, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

func hpaFloor(ctx context.Context, t *testing.T, env *testbed.Env) int32 {
	t.Helper()
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil || hpa.Spec.MinReplicas == nil {
		return 0
	}
	return *hpa.Spec.MinReplicas
}

// cordon marks a node (un)schedulable, which the capacity collector honours
// as the scheduler does.
func cordon(ctx context.Context, t *testing.T, env *testbed.Env, node string, on bool) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	if _, err := env.Client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// checkOneFieldManager asserts both processes wrote as one field manager.
func checkOneFieldManager(ctx context.Context, t *testing.T, env *testbed.Env) {
	t.Helper()
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owners := 0
	for _, mf := range hpa.ManagedFields {
		if mf.Manager == writer.FieldManager {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("%d managedFields entries for %q, want one shared by both processes", owners, writer.FieldManager)
	}
}

// checkSurvivorMetrics asserts the survivor loops and met no conflict and no
// failed write. A counter that is not exported (yet) passes: only a sample
// above zero fails.
func checkSurvivorMetrics(ctx context.Context, t *testing.T, p *prescalerProc) {
	t.Helper()
	text, err := p.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loops := sampleValues(text, "prescaler_loop_duration_seconds_count"); len(loops) != 1 || loops[0] < 1 {
		t.Errorf("survivor's prescaler_loop_duration_seconds_count = %v, want at least one loop", loops)
	}
	for _, name := range []string{"prescaler_write_conflicts_total", "prescaler_write_errors_total"} {
		for _, v := range sampleValues(text, name) {
			if v > 0 {
				t.Errorf("survivor's %s has a sample of %v, want none above 0", name, v)
			}
		}
	}
}

// sampleValues returns the values of every sample of the metric name in a
// text exposition.
func sampleValues(text, name string) []float64 {
	var out []float64
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // another metric sharing the prefix, or a comment
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}
