//go:build cgo && linux

package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/test/testbed"
)

// The world of TestAgentUtilizationTeachesTheCapacity.
const (
	// agentDemandPerMinute is the Deployment's demand, steady: with
	// agentReplicas Ready replicas each serves 120 requests per minute.
	agentDemandPerMinute = 240.0
	agentReplicas        = 2
	// agentFallback is fallbackReplicaCapacity, the capacity in use until
	// one is learned; far from both learned values.
	agentFallback = 100.0
	// agentLearnSteps is slo.learnWindow / forecast.step (10s / 1s): the
	// observations, one per loop, the learner needs and keeps.
	agentLearnSteps = 10
	// agentTolerance is the relative error allowed on a learned capacity.
	// The inputs are exact (whole percents, a steady gauge), so only
	// floating point and the text formats on the way separate the daemon's
	// value from the expected one.
	agentTolerance = 0.005
	// agentPhaseLimit bounds each phase: agentLearnSteps loops plus the
	// scrape (1 s) that carries a new reading to Prometheus, with margin
	// for a loaded machine.
	agentPhaseLimit = 45 * time.Second
	// agentUtilizationQuery is the form docs/agent.md documents: the mean
	// over the Deployment's pods of the agent's per-GPU utilization.
	agentUtilizationQuery = `avg(prescaler_agent_gpu_utilization_ratio{namespace="default",pod=~"ai-inference-.*"})`
)

// utilizationPhase is what the fake GPUs read for a while, and the capacity
// the daemon must learn from it.
type utilizationPhase struct {
	name string
	// percent is each GPU's utilization: GPUs 0 and 1 are the seed's two
	// pods', GPU 2 is held by no pod (its 100 % must not count).
	percent [fakeGPUs]int
	// podMean is the mean over the pods' GPUs, what the query returns.
	podMean float64
	// want is 120 requests per minute per replica × the ceiling 0.9 /
	// podMean: the throughput at which a replica would reach the ceiling.
	want float64
}

var agentPhases = []utilizationPhase{
	{name: "light", percent: [fakeGPUs]int{30, 50, 100}, podMean: 0.40, want: 270}, // 120 × 0.9 / 0.40
	{name: "busy", percent: [fakeGPUs]int{60, 84, 100}, podMean: 0.72, want: 150},  // 120 × 0.9 / 0.72
}

// TestAgentUtilizationTeachesTheCapacity follows GPU utilization from NVML
// to the daemon's learned per-replica capacity, through every real hop:
// `prescaler agent` (in a child process) reads a fake NVML library
// (testdata/fakenvml_utilization.c, three GPUs whose utilization the test
// sets) and a fake kubelet pod-resources socket that allocates GPUs 0 and
// 1 to the seed's two ai-inference pods on a kwok node; the testbed's
// Prometheus scrapes it every second, together with a steady demand gauge
// (240 requests per minute, its history backfilled); the daemon (run.go's
// wiring, shadow mode, replicaCapacity auto, forecast.step 1s,
// slo.learnWindow 10s) reads queries.gpuUtilization in the form
// docs/agent.md documents.
//
// Asserted, on prescaler_replica_capacity_learned and
// prescaler_replica_capacity_per_minute:
//   - until the learner holds its 10 observations the capacity is the
//     fallback, 100, not learned;
//   - with the pods' GPUs at 30 % and 50 % (mean 0.40; GPU 2 at 100 % is
//     no pod's and must be left out) it learns 120 × 0.9 / 0.40 = 270
//     within 0.5 %, after at least 10 loops;
//   - after the GPUs move to 60 % and 84 % (mean 0.72) it learns
//     120 × 0.9 / 0.72 = 150 within 0.5 %, and on the way it stays learned
//     and between the two values.
//
// Without the agent's series the query has no value, the learner has no
// utilization and no saturation to learn from, and the capacity stays the
// fallback: the first phase fails.
func TestAgentUtilizationTeachesTheCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and the agent")
	}
	nvml := buildFakeNVML(t)
	nvml.set(t, agentPhases[0].percent)
	demandAddr := serveDemand(t, agentDemandPerMinute)
	agentAddr := freeAddr(t)
	now := time.Now()
	// The history is the same series the live scrapes continue (the
	// labels Prometheus gives them), so the demand query has one series.
	history := testbed.SeriesFunc("ai_requests_per_minute",
		map[string]string{"service": "ai-inference", "job": "testbed", "instance": demandAddr},
		now.Add(-15*time.Minute), now, 5*time.Second, func(time.Time) float64 { return agentDemandPerMinute })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{
		ScrapeInterval: time.Second,
		ScrapeTargets:  []string{demandAddr, agentAddr},
		History:        []testbed.Series{history},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 4)); err != nil {
		t.Fatal(err)
	}
	if err := (testbed.Seed{Replicas: agentReplicas}).Create(ctx, env.Client); err != nil {
		t.Fatal(err)
	}
	pods := readySeedPods(ctx, t, env, agentReplicas)
	kubelet := serveKubelet(t, pods)
	startAgentProcess(t, "--listen", agentAddr, "--node-name", "gpu-a", "--nvml-library", nvml.library,
		"--pod-resources-socket", kubelet, "--collect-timeout", "500ms")
	waitForUtilization(ctx, t, env, agentPhases[0].podMean)

	r := newAgentRunner(ctx, t, env)
	loops := learnPhase(ctx, t, r, agentPhases[0], func(learned, capacity float64) error {
		if learned == 0 && capacity != agentFallback {
			return fmt.Errorf("capacity %v before it was learned, want the fallback %v", capacity, agentFallback)
		}
		if learned == 1 && !withinTolerance(capacity, agentPhases[0].want) {
			return fmt.Errorf("learned %v from the light phase alone, want %v", capacity, agentPhases[0].want)
		}
		return nil
	})
	// Every loop before this one used the fallback (checked above).
	if loops < agentLearnSteps {
		t.Errorf("learned after %d loops, want at least the %d observations of slo.learnWindow", loops, agentLearnSteps)
	}

	nvml.set(t, agentPhases[1].percent)
	low, high := agentPhases[1].want*(1-agentTolerance), agentPhases[0].want*(1+agentTolerance)
	learnPhase(ctx, t, r, agentPhases[1], func(learned, capacity float64) error {
		if learned != 1 || capacity < low || capacity > high {
			return fmt.Errorf("capacity %v (learned %v) while the window moves from %v to %v",
				capacity, learned, agentPhases[0].want, agentPhases[1].want)
		}
		return nil
	})
}

// learnPhase runs the daemon's loop once a second until the capacity it
// uses is the phase's, learned, checking every loop with check, and
// returns the loops it took.
func learnPhase(ctx context.Context, t *testing.T, r *runner, p utilizationPhase, check func(learned, capacity float64) error) int {
	t.Helper()
	began := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for loops := 1; ; loops++ {
		select {
		case <-ctx.Done():
			t.Fatalf("%s phase: %v", p.name, ctx.Err())
		case <-tick.C:
		}
		out := r.daemon.RunOnce(ctx, time.Now())[0]
		checkLoop(t, out)
		learned, capacity := learnedCapacity(t, r)
		if err := check(learned, capacity); err != nil {
			t.Fatalf("%s phase, loop %d: %v", p.name, loops, err)
		}
		if learned == 1 && withinTolerance(capacity, p.want) {
			if !withinTolerance(out.Signals.GPUUtilization, p.podMean) {
				t.Errorf("%s phase: the daemon read GPU utilization %v, want the pods' mean %v", p.name, out.Signals.GPUUtilization, p.podMean)
			}
			t.Logf("%s phase (GPUs %v %%, pods' mean %v): learned %.2f requests/min per replica after %d loops, %s",
				p.name, p.percent, out.Signals.GPUUtilization, capacity, loops, time.Since(began).Round(time.Millisecond))
			return loops
		}
		if time.Since(began) > agentPhaseLimit {
			t.Fatalf("%s phase: after %s the capacity is %v (learned %v), want %v learned; the daemon read GPU utilization %v",
				p.name, agentPhaseLimit, capacity, learned, p.want, out.Signals.GPUUtilization)
		}
	}
}

// checkLoop fails on a loop that did not see the world as set up: every
// query answered, both replicas Ready, the steady demand.
func checkLoop(t *testing.T, out daemon.Outcome) {
	t.Helper()
	if len(out.Errs) > 0 || out.Skipped != "" {
		t.Fatalf("loop errors %v, skipped %q", out.Errs, out.Skipped)
	}
	if out.Signals.ReadyReplicas != agentReplicas || !withinTolerance(float64(out.Demand), agentDemandPerMinute) {
		t.Fatalf("loop saw %d Ready replicas and demand %v/min, want %d and %v", out.Signals.ReadyReplicas, out.Demand,
			agentReplicas, agentDemandPerMinute)
	}
}

func withinTolerance(got, want float64) bool {
	return math.Abs(got-want) <= agentTolerance*want
}

// newAgentRunner wires the daemon as `prescaler run` does, in shadow mode
// (it writes nothing, so the replicas stay the two the test set up).
func newAgentRunner(ctx context.Context, t *testing.T, env *testbed.Env) *runner {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`
interval: 1s
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: false}
targets:
  - name: ai-inference
    namespace: default
    hpa: inference-hpa
    mode: shadow
    queries:
      demand: 'ai_requests_per_minute{service="ai-inference"}'
      gpuUtilization: '%s'
    replicaCapacity: auto
    fallbackReplicaCapacity: %v
    slo: {gpuUtilizationCeiling: 0.9, learnWindow: %ds}
    leadTime: 30s
    forecast: {step: 1s, season: 1m, history: 10m}
`, env.PrometheusURL, agentUtilizationQuery, agentFallback, agentLearnSteps))
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// learnedCapacity reads prescaler_replica_capacity_learned and
// prescaler_replica_capacity_per_minute of the target from the daemon's
// registry.
func learnedCapacity(t *testing.T, r *runner) (learned, perMinute float64) {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == "ai-inference" {
					values[f.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	learned, ok1 := values["prescaler_replica_capacity_learned"]
	perMinute, ok2 := values["prescaler_replica_capacity_per_minute"]
	if !ok1 || !ok2 {
		t.Fatal("the daemon exports no prescaler_replica_capacity_learned or prescaler_replica_capacity_per_minute for ai-inference")
	}
	return learned, perMinute
}

// readySeedPods waits for n Ready pods of the seed and returns them by name.
func readySeedPods(ctx context.Context, t *testing.T, env *testbed.Env, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	testbed.WaitFor(ctx, t, fmt.Sprintf("%d Ready ai-inference pods", n), func() (bool, error) {
		pods, err := env.Client.CoreV1().Pods(testbed.SeedNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=ai-inference"})
		if err != nil {
			return false, err
		}
		ready = ready[:0]
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = append(ready, p)
				}
			}
		}
		return len(ready) == n, nil
	})
	slices.SortFunc(ready, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return ready
}

// waitForUtilization waits until Prometheus has scraped the agent and the
// utilization query gives want: the agent's series carry the pods' labels.
func waitForUtilization(ctx context.Context, t *testing.T, env *testbed.Env, want float64) {
	t.Helper()
	testbed.WaitFor(ctx, t, "the agent's GPU utilization of the seed's pods in Prometheus", func() (bool, error) {
		samples, err := env.PromQuery(ctx, agentUtilizationQuery, time.Now())
		if err != nil {
			return false, err
		}
		return len(samples) == 1 && withinTolerance(samples[0].Value, want), nil
	})
}

// serveDemand stands in for the inference server's /metrics: a steady
// demand gauge, scraped by Prometheus. It returns its host:port.
func serveDemand(t *testing.T, perMinute float64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE ai_requests_per_minute gauge\nai_requests_per_minute{service=\"ai-inference\"} %v\n", perMinute)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// The fake NVML library has fakeGPUs GPUs; GPU i has this UUID.
const fakeGPUs = 3

func fakeGPUUUID(i int) string { return fmt.Sprintf("GPU-00000000-0000-0000-0000-%012d", i) }

// fakeNVML is testdata/fakenvml_utilization.c compiled, and the file it
// reads each GPU's utilization from.
type fakeNVML struct {
	library, utilizationFile string
}

func buildFakeNVML(t *testing.T) fakeNVML {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatalf("no C compiler to build the fake NVML library (this cgo test binary was built with one): %v", err)
	}
	dir := t.TempDir()
	f := fakeNVML{library: filepath.Join(dir, "libnvidia-ml.so.1"), utilizationFile: filepath.Join(dir, "utilization")}
	args := []string{"-shared", "-fPIC", "-Wall", "-Werror", fmt.Sprintf("-DUTILIZATION_FILE=%q", f.utilizationFile),
		"-o", f.library, "testdata/fakenvml_utilization.c"}
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return f
}

// set makes the GPUs read percent from the next NVML call on. The file is
// replaced by a rename, so the library never reads half of it.
func (f fakeNVML) set(t *testing.T, percent [fakeGPUs]int) {
	t.Helper()
	text := strings.Trim(fmt.Sprint(percent), "[]") + "\n"
	tmp := f.utilizationFile + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.utilizationFile); err != nil {
		t.Fatal(err)
	}
}

// kubeletPodResources answers the pod-resources List as a kubelet would
// for the GPUs allocated to pods.
type kubeletPodResources struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	resp *podresourcesv1.ListPodResourcesResponse
}

func (k *kubeletPodResources) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	return k.resp, nil
}

// serveKubelet serves the pod-resources API on a unix socket, with GPU i
// allocated to pods[i]'s container, as the NVIDIA device plugin would
// allocate it; it returns the socket's path.
func serveKubelet(t *testing.T, pods []corev1.Pod) string {
	t.Helper()
	resp := &podresourcesv1.ListPodResourcesResponse{}
	for i, p := range pods {
		resp.PodResources = append(resp.PodResources, &podresourcesv1.PodResources{
			Name: p.Name, Namespace: p.Namespace,
			Containers: []*podresourcesv1.ContainerResources{{Name: p.Spec.Containers[0].Name,
				Devices: []*podresourcesv1.ContainerDevices{{ResourceName: string(testbed.ResourceGPU), DeviceIds: []string{fakeGPUUUID(i)}}}}},
		})
	}
	// A unix socket's path is limited to 108 bytes; t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "kubelet.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, &kubeletPodResources{resp: resp})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return socket
}

// envAgentProcessArgs carries `prescaler agent`'s arguments, one per line,
// to TestAgentProcess in the child process.
const envAgentProcessArgs = "PRESCALER_TEST_AGENT_PROCESS_ARGS"

// startAgentProcess runs `prescaler agent` with args in a child process
// (the test binary, running TestAgentProcess): go-nvml binds the NVML
// library's symbols process-wide, so the fake library must not be loaded
// into the test process. Cleanup stops it with SIGTERM, as a DaemonSet's
// pod is stopped, and checks that it exits cleanly.
func startAgentProcess(t *testing.T, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAgentProcessArgs+"="+strings.Join(append([]string{"agent"}, args...), "\n"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel kills it should the test binary die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); _ = logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent process after SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("agent process did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("agent process log:\n%s", log)
		}
	})
}

// TestAgentProcess is `prescaler agent` in the child process that
// startAgentProcess starts; run directly, it has nothing to do.
func TestAgentProcess(t *testing.T) {
	args := os.Getenv(envAgentProcessArgs)
	if args == "" {
		t.Skip("runs only as the agent process of TestAgentUtilizationTeachesTheCapacity")
	}
	root := NewRootCommand(io.Discard, os.Stderr)
	root.SetArgs(strings.Split(args, "\n"))
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
}
