package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// The daemon's wiring end to end on the real control plane: Prometheus
// backfilled with two days of demand, the seed's ai-inference Deployment and
// inference-hpa on two kwok nodes of 4 GPUs. The forecast asks for more
// replicas than the 8 GPUs hold, so the floor stops at capacity (reason
// gpu_capacity, no Pending pod); opting out gives the user's values back.
func TestRunWritesTheFloorOnARealCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	now := time.Now().Truncate(time.Minute)
	// About 600 requests per minute around the clock with a daily wave:
	// with 50 per replica that is ~12 replicas, more than the 8 GPUs.
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(at time.Time) float64 {
			h := float64(at.Hour()) + float64(at.Minute())/60
			return 600 + 100*sinDeg(15*h)
		})
	env := testbed.Start(t, testbed.Options{
		HPASyncPeriod: time.Second,
		Prometheus:    testbed.PrometheusOptions{History: []testbed.Series{demand}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.AddGPUNodes(ctx, 4, "gpu-a", "gpu-b"); err != nil {
		t.Fatal(err)
	}
	seedWorkload(ctx, t, env.Client)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prescaler.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`
interval: 2s
prometheus: {url: %q}
leaderElection: {enabled: false}
server: {address: "127.0.0.1:0"}
targets:
  - name: ai-inference
    namespace: default
    hpa: inference-hpa
    queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}
    replicaCapacity: 50
    leadTime: 3m
    forecast: {step: 1m, season: 1d, history: 2d}
`, env.PrometheusURL))
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, lag: 0, reload: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}

	out := r.daemon.RunOnce(ctx, time.Now())[0]
	if out.WriteErr != nil || len(out.Errs) > 0 {
		t.Fatalf("loop errors: write %v, others %v", out.WriteErr, out.Errs)
	}
	if out.Decision.Floor != 8 || out.Decision.Reason != "gpu_capacity" || out.Capacity != 8 {
		t.Fatalf("decision %+v capacity %d: want the floor stopped at the 8 GPUs", out.Decision, out.Capacity)
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *hpa.Spec.MinReplicas != 8 || !strings.Contains(hpa.Annotations[writer.AnnotationOriginal], `"minReplicas":1`) {
		t.Fatalf("HPA minReplicas %d, annotations %v", *hpa.Spec.MinReplicas, hpa.Annotations)
	}
	if v := metricValue(t, r, "prescaler_decision_reason", "reason", "gpu_capacity"); v != 1 {
		t.Errorf("prescaler_decision_reason{reason=gpu_capacity} = %v", v)
	}
	checkStatusMatchesMetrics(ctx, t, env, r, "ai-inference")
	// The real HPA controller follows the floor and the real scheduler
	// places every pod: prescaler caused no Pending pod.
	testbed.WaitFor(ctx, t, "8 replicas scheduled, none Pending", func() (bool, error) {
		pods, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ai-inference"})
		if err != nil {
			return false, err
		}
		scheduled, pending := 0, 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				scheduled++
			} else {
				pending++
			}
		}
		return scheduled == 8 && pending == 0, nil
	})
	// The Event on the HPA names the bound, for `kubectl describe hpa`.
	testbed.WaitFor(ctx, t, "a FloorRaised Event naming gpu_capacity", func() (bool, error) {
		evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=inference-hpa"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == writer.ReasonFloorRaised && strings.Contains(e.Message, "minReplicas 1 → 8 (gpu_capacity: free GPUs can run 8 replicas") {
				return true, nil
			}
		}
		return false, nil
	})

	// Steady state: loops whose decision is the floor in force read the
	// HPA and the Deployment from the informers and send no request.
	before := kubeRequestsSent(t, r)
	for range 3 {
		if out := r.daemon.RunOnce(ctx, time.Now())[0]; out.Decision.Floor != 8 || out.Changed || len(out.Errs) > 0 {
			t.Fatalf("steady loop: %+v", out)
		}
	}
	if sent := kubeRequestsSent(t, r) - before; sent != 0 {
		t.Errorf("three loops that changed nothing sent %v requests to the API server, want 0", sent)
	}

	// Opt out: the next loop gives the user's values back.
	// The HPA controller writes the object's status meanwhile: a conflict is
	// retried on a fresh read, as kubectl annotate would.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		if err != nil {
			return err
		}
		hpa.Annotations[writer.AnnotationEnabled] = "false"
		_, err = env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Update(ctx, hpa, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitCachedHPA(ctx, t, r, "the opt-out", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Annotations[writer.AnnotationEnabled] == "false"
	})
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; out.Skipped != "opted_out" || len(out.Errs) > 0 {
		t.Fatalf("after opt-out: %+v", out)
	}
	hpa, _ = env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if *hpa.Spec.MinReplicas != 1 || hpa.Annotations[writer.AnnotationOriginal] != "" {
		t.Errorf("after restore: minReplicas %d annotations %v", *hpa.Spec.MinReplicas, hpa.Annotations)
	}
}

// seedWorkload creates the user's world: the ai-inference Deployment (one
// GPU per pod) and inference-hpa (min 1, max 20, CPU 70 %).
func seedWorkload(ctx context.Context, t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	if err := (testbed.Seed{}).Create(ctx, kube); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sinDeg(deg float64) float64 { return math.Sin(deg * math.Pi / 180) }

// kubeRequestsSent is prescaler_kube_requests_total summed over every verb
// but list and watch: the informers' own traffic, which re-lists and
// re-watches on their schedule.
func kubeRequestsSent(t *testing.T, r *runner) float64 {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != "prescaler_kube_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			informer := false
			for _, l := range m.GetLabel() {
				informer = informer || l.GetName() == "verb" && (l.GetValue() == "list" || l.GetValue() == "watch")
			}
			if !informer {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// waitCachedHPA waits until the runner's HPA informer holds
// default/inference-hpa in the state ok accepts: the daemon reads the HPA
// from it, so a test that edits the HPA waits for the watch to deliver the
// edit before it runs a loop.
func waitCachedHPA(ctx context.Context, t *testing.T, r *runner, what string, ok func(*autoscalingv2.HorizontalPodAutoscaler) bool) {
	t.Helper()
	lister := r.informers.Autoscaling().V2().HorizontalPodAutoscalers().Lister()
	testbed.WaitFor(ctx, t, "the HPA informer holds "+what, func() (bool, error) {
		h, err := lister.HorizontalPodAutoscalers("default").Get("inference-hpa")
		return err == nil && ok(h), nil
	})
}

// metricValue is the value of the first series of the gauge or counter
// family name in the runner's registry whose label has value (label "":
// the first series).
func metricValue(t *testing.T, r *runner, name, label, value string) float64 {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// `prescaler restore` gives the HPA its user's values back after the daemon
// raised its floor, from the config's targets or with --all.
func TestRestoreCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, r, cfgPath, ctx := startSteadyRun(t)
	minReplicas := func() int32 {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *hpa.Spec.MinReplicas
	}
	for _, args := range [][]string{{"--config", cfgPath}, {"--all"}} {
		r.daemon.RunOnce(ctx, time.Now())
		if got := minReplicas(); got != 6 { // 300 req/min at 50 per replica
			t.Fatalf("floor %d before restore, want 6", got)
		}
		stdout, err := execute(append([]string{"restore", "--kubeconfig", env.Kubeconfig}, args...)...)
		if err != nil {
			t.Fatalf("restore %v: %v", args, err)
		}
		if !strings.Contains(stdout, "HorizontalPodAutoscaler default/inference-hpa: restored the user's minReplicas 1 (was 6)") ||
			strings.Contains(stdout, "restored restored") {
			t.Errorf("restore %v printed %q", args, stdout)
		}
		if got := minReplicas(); got != 1 {
			t.Errorf("restore %v: minReplicas %d, want the user's 1", args, got)
		}
		// A second run finds nothing to do and says so.
		stdout, err = execute(append([]string{"restore", "--kubeconfig", env.Kubeconfig}, args...)...)
		if err != nil {
			t.Fatalf("second restore %v: %v", args, err)
		}
		if want := map[bool]string{true: "nothing to restore", false: "left as it is (minReplicas 1)"}[args[0] == "--all"]; !strings.Contains(stdout, want) {
			t.Errorf("second restore %v printed %q, want %q", args, stdout, want)
		}
	}
	// Each restore recorded an Event on the HPA (the command waits for it).
	evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=inference-hpa,reason=" + writer.ReasonRestored})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 2 {
		t.Errorf("%d Restored Events, want one per restore", len(evs.Items))
	}
	if _, err := execute("restore"); err == nil {
		t.Error("restore without --config or --all was accepted")
	}
}

// execute runs the command line and returns its standard output.
func execute(args ...string) (string, error) {
	var out, errOut strings.Builder
	root := NewRootCommand(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// Prometheus killed mid-run: no floor is lowered, the error is counted, and
// the next loop after its restart is fresh again.
func TestPrometheusOutageKeepsTheFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, r, cfgPath, ctx := startSteadyRun(t)
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; out.Decision.Floor != 6 || !out.DataFresh {
		t.Fatalf("first loop: %+v", out)
	}
	// Five minutes later with Prometheus down there is no fresh demand:
	// prescaler keeps the floor in force and lowers nothing.
	if err := env.StopComponent(testbed.Prometheus); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(5 * time.Minute)
	out := r.daemon.RunOnce(ctx, later)[0]
	if out.DataFresh || out.Decision.Reason != "fallback" || out.Decision.Floor != 6 {
		t.Fatalf("with Prometheus down: fresh %v decision %+v errs %v", out.DataFresh, out.Decision, out.Errs)
	}
	if len(out.Errs) == 0 || !strings.Contains(out.Errs[0].Error(), env.PrometheusURL) {
		t.Errorf("errors %v do not name the Prometheus URL", out.Errs)
	}
	if v := testutil.ToFloat64(counterOf(t, r, "prescaler_target_errors_total")); v < 1 {
		t.Errorf("prescaler_target_errors_total = %v", v)
	}
	if err := env.StartComponent(ctx, testbed.Prometheus); err != nil {
		t.Fatal(err)
	}
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; !out.DataFresh || out.Decision.Reason == "fallback" {
		t.Errorf("after the restart: fresh %v decision %+v errs %v", out.DataFresh, out.Decision, out.Errs)
	}

	// Config reload: an invalid file is rejected and the last good config
	// stays; a valid change (shadow mode) applies on the next loop.
	r.flags.reload = 50 * time.Millisecond
	go r.watchConfig(ctx, modTime(cfgPath))
	good, _ := os.ReadFile(cfgPath)
	reloads := func(result string) float64 { return testutil.ToFloat64(r.reloads.WithLabelValues(result)) }
	bump := func(text string) { // a later modification time than the last write
		writeFile(t, cfgPath, text)
		at := time.Now().Add(time.Duration(reloads("success")+reloads("failure")+1) * time.Second)
		if err := os.Chtimes(cfgPath, at, at); err != nil {
			t.Fatal(err)
		}
	}
	bump(strings.Replace(string(good), "replicaCapacity: 50", "replicaCapacity: -5", 1))
	testbed.WaitFor(ctx, t, "the invalid config to be rejected", func() (bool, error) { return reloads("failure") == 1, nil })
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; out.Shadow || out.Decision.Floor != 6 {
		t.Errorf("after an invalid reload: %+v, want the last good config (active, floor 6)", out)
	}
	bump(strings.Replace(string(good), "name: ai-inference,", "name: ai-inference, mode: shadow,", 1))
	testbed.WaitFor(ctx, t, "the valid config to be applied", func() (bool, error) { return reloads("success") == 1, nil })
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; !out.Shadow {
		t.Errorf("after a valid reload to shadow mode: %+v", out)
	}
}

// counterOf sums a counter family of the daemon's registry.
func counterOf(t *testing.T, r *runner, name string) prometheus.Collector {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
	c.Set(total)
	return c
}

// startSteadyRun starts the control plane with two days of a steady 300
// requests per minute in Prometheus, one 8-GPU node, the seed's workload and
// a runner (not yet looping) whose target needs 6 replicas at 50 each.
func startSteadyRun(t *testing.T) (*testbed.Env, *runner, string, context.Context) {
	t.Helper()
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 300 })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 8)); err != nil {
		t.Fatal(err)
	}
	seedWorkload(ctx, t, env.Client)
	cfgPath := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: false}
targets:
  - {name: ai-inference, namespace: default, hpa: inference-hpa, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, env.PrometheusURL))
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	return env, r, cfgPath, ctx
}

// Two prescaler processes share a Lease: one writes; when it stops, the
// other takes over within the lease duration plus one interval.
func TestLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, _, cfgPath, ctx := startSteadyRun(t)
	cfg, _ := os.ReadFile(cfgPath)
	writeFile(t, cfgPath, strings.Replace(string(cfg), "leaderElection: {enabled: false}",
		`interval: 1s
server: {address: "127.0.0.1:0"}
leaderElection: {enabled: true, namespace: default, leaseName: prescaler-e2e, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}`, 1))
	start := func() (*runner, context.CancelFunc, chan error) {
		rctx, cancel := context.WithCancel(ctx)
		r, err := newRunner(rctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, reload: time.Hour},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.run(rctx) }()
		return r, cancel, done
	}
	a, stopA, doneA := start()
	b, stopB, doneB := start()
	defer stopB()
	testbed.WaitFor(ctx, t, "a leader", func() (bool, error) { return a.leading() || b.leading(), nil })
	leader, follower, stopLeader, leaderDone := a, b, stopA, doneA
	if b.leading() {
		leader, follower, stopLeader, leaderDone = b, a, stopB, doneB
	}
	if follower.leading() {
		t.Fatal("both processes lead")
	}
	testbed.WaitFor(ctx, t, "the leader's first loop", func() (bool, error) { return leader.daemon.Ready(time.Now()) == nil, nil })
	stopLeader()
	if err := <-leaderDone; err != nil {
		t.Fatalf("the stopped leader returned %v", err)
	}
	stopped := time.Now()
	// The stopped leader restored the HPA on its way out; the takeover is
	// done when the follower leads and its own write is back on the HPA.
	// Ready alone is not enough: the follower's loops as a standby keep it
	// ready before it leads.
	testbed.WaitFor(ctx, t, "the follower to lead and write the floor", func() (bool, error) {
		if !follower.leading() {
			return false, nil
		}
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return prescalerOwners(hpa) == 1 && *hpa.Spec.MinReplicas == 6, nil
	})
	if took := time.Since(stopped); took > 3*time.Second+time.Second+time.Second {
		t.Errorf("takeover took %s, more than the lease duration plus one interval", took)
	}
	if leader.leading() {
		t.Error("the stopped process still reports that it leads")
	}
}

// prescalerOwners counts the HPA's managedFields entries written by
// prescaler's field manager.
func prescalerOwners(hpa *autoscalingv2.HorizontalPodAutoscaler) int {
	owners := 0
	for _, mf := range hpa.ManagedFields {
		if mf.Manager == writer.FieldManager {
			owners++
		}
	}
	return owners
}

// kube-apiserver restarted under a running daemon: loops during the restart
// degrade with errors and write nothing wrong, and the loop recovers after.
func TestAPIServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, r, _, ctx := startSteadyRun(t)
	if out := r.daemon.RunOnce(ctx, time.Now())[0]; out.Decision.Floor != 6 || len(out.Errs) > 0 || out.WriteErr != nil {
		t.Fatalf("first loop: %+v", out)
	}
	if err := env.RestartComponent(ctx, testbed.APIServer); err != nil {
		t.Fatal(err)
	}
	testbed.WaitFor(ctx, t, "a clean loop after the restart", func() (bool, error) {
		out := r.daemon.RunOnce(ctx, time.Now())[0]
		return len(out.Errs) == 0 && out.WriteErr == nil && out.Wrote && out.Decision.Floor == 6, nil
	})
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *hpa.Spec.MinReplicas != 6 {
		t.Errorf("minReplicas %d after the restart, want 6", *hpa.Spec.MinReplicas)
	}
}
