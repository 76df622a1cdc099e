package testbed_test

import (
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/test/testbed"
)

// TestHPAFloorOnGPUNodes is the testbed's acceptance test: with two kwok nodes
// of 4 GPUs each, the real HPA controller raises a 1-GPU-per-pod Deployment
// to the HPA's minReplicas (10) and the real scheduler binds the 8 pods that
// fit and leaves 2 Pending. No metrics API is served, so the HPA cannot read
// its CPU metric; it enforces minReplicas all the same.
func TestHPAFloorOnGPUNodes(t *testing.T) {
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{Disabled: true}})
	ctx := t.Context()
	c := env.Client

	if err := env.AddGPUNodes(ctx, 4, "gpu-a", "gpu-b"); err != nil {
		t.Fatal(err)
	}
	ns := "llm"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "llm"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "llm", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "server",
					Image: "registry.invalid/llm:test", // kwok runs nothing
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{testbed.ResourceGPU: resource.MustParse("1")},
					},
				}}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "llm", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llm"},
			MinReplicas:    ptr.To[int32](10),
			MaxReplicas:    20,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](60)},
				},
			}},
		},
	}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var bound, pending, unschedulable int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "llm", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=llm"})
		if err != nil {
			return false, err
		}
		bound, pending, unschedulable = 0, 0, 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning {
				bound++
			}
			if p.Status.Phase == corev1.PodPending && p.Spec.NodeName == "" {
				pending++
				for _, cond := range p.Status.Conditions {
					if cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable {
						unschedulable++
					}
				}
			}
		}
		return ptr.Deref(d.Spec.Replicas, 0) == 10 && bound == 8 && pending == 2 && unschedulable == 2, nil
	})
	if err != nil {
		t.Fatalf("want the Deployment at 10 replicas, 8 pods Running and 2 Pending (Unschedulable); have %d running, %d pending (%d unschedulable): %v",
			bound, pending, unschedulable, err)
	}
	t.Logf("HPA raised the Deployment to 10 and the scheduler bound 8, left 2 Pending, %s after the HPA was created", time.Since(start).Round(100*time.Millisecond))

	got, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "llm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.DesiredReplicas != 10 {
		t.Errorf("HPA status.desiredReplicas = %d, want 10", got.Status.DesiredReplicas)
	}
	for _, cond := range got.Status.Conditions {
		t.Logf("HPA condition %s=%s %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message)
	}

	t.Run("node NotReady, cordon, apiserver restart", func(t *testing.T) {
		if err := env.SetNodeReady(ctx, "gpu-b", false); err != nil {
			t.Fatal(err)
		}
		if err := env.Cordon(ctx, "gpu-a"); err != nil {
			t.Fatal(err)
		}
		n, err := c.CoreV1().Nodes().Get(ctx, "gpu-a", metav1.GetOptions{})
		if err != nil || !n.Spec.Unschedulable {
			t.Fatalf("gpu-a not cordoned: %v", err)
		}
		if err := env.RestartComponent(ctx, testbed.APIServer); err != nil {
			t.Fatal(err)
		}
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "llm", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("client after apiserver restart: %v", err)
		}
		if ptr.Deref(d.Spec.Replicas, 0) != 10 {
			t.Errorf("replicas after restart = %d, want 10", ptr.Deref(d.Spec.Replicas, 0))
		}
		if err := env.Uncordon(ctx, "gpu-a"); err != nil {
			t.Fatal(err)
		}
		if err := env.SetNodeReady(ctx, "gpu-b", true); err != nil {
			t.Fatal(err)
		}
	})

	stopAndCheckProcesses(t, env)
}

// TestHPAReadsCustomPodMetric checks the fake custom metrics API: the HPA
// controller reads a Pods metric served by the test (100 per pod against a
// target average of 10) and scales up to its maxReplicas.
func TestHPAReadsCustomPodMetric(t *testing.T) {
	var asked atomic.Int64
	env := testbed.Start(t, testbed.Options{
		Prometheus: testbed.PrometheusOptions{Disabled: true},
		PodMetrics: func(namespace, pod, metric string) (float64, bool) {
			asked.Add(1)
			return 100, namespace == "default" && metric == "queue_depth"
		},
	})
	ctx := t.Context()
	c := env.Client
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 8)); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "q"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "server", Image: "registry.invalid/q:test",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{testbed.ResourceGPU: resource.MustParse("1")}},
				}}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "q"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType,
				Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))},
				},
			}},
		},
	}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *autoscalingv2.HorizontalPodAutoscaler
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if got, err = c.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "q", metav1.GetOptions{}); err != nil {
			return false, err
		}
		active := false
		for _, cond := range got.Status.Conditions {
			active = active || cond.Type == autoscalingv2.ScalingActive && cond.Status == corev1.ConditionTrue
		}
		return active && got.Status.DesiredReplicas == 4 && len(got.Status.CurrentMetrics) == 1, nil
	})
	if err != nil {
		t.Fatalf("HPA did not scale on the custom metric to 4: status %+v: %v", got.Status, err)
	}
	if v := got.Status.CurrentMetrics[0].Pods.Current.AverageValue; v.Value() != 100 {
		t.Errorf("HPA read average %s, want 100", v.String())
	}
	t.Logf("HPA read queue_depth (%d pod values served) and wants 4 replicas", asked.Load())
	stopAndCheckProcesses(t, env)
}

// TestPrometheusBackfill backfills three hours of a series before Prometheus
// starts, queries it back, then backfills a second series into the running
// Prometheus (stop, promtool, start).
func TestPrometheusBackfill(t *testing.T) {
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-3 * time.Hour)
	minute := func(ts time.Time) float64 { return ts.Sub(start).Minutes() }
	hist := testbed.SeriesFunc("prescaler_test_requests_per_second", map[string]string{"service": "llm", "namespace": "prod"},
		start, end, time.Minute, minute)

	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{hist}}})
	ctx := t.Context()

	// Range selectors are left-open, (at-4h, at]: 4h takes in all 180 samples.
	want := map[string]float64{
		`count_over_time(prescaler_test_requests_per_second{service="llm"}[4h])`: 180,
		`max_over_time(prescaler_test_requests_per_second[4h])`:                  179,
		`sum(prescaler_test_requests_per_second{namespace="prod"})`:              179,
	}
	for q, v := range want {
		assertQuery(ctx, t, env, q, end, v)
	}
	// An instant in the middle of the history.
	assertQuery(ctx, t, env, `prescaler_test_requests_per_second`, start.Add(90*time.Minute), 90)

	// A second backfill into the running Prometheus.
	two := testbed.SeriesFunc("prescaler_test_queue_depth", nil, start, end, 5*time.Minute, func(time.Time) float64 { return 7 })
	if err := env.BackfillPrometheus(ctx, []testbed.Series{two}, ""); err != nil {
		t.Fatal(err)
	}
	assertQuery(ctx, t, env, `count_over_time(prescaler_test_queue_depth[4h])`, end, 36)
	assertQuery(ctx, t, env, `count_over_time(prescaler_test_requests_per_second[4h])`, end, 180)

	// Prometheus down and up again, the data still there.
	if err := env.StopComponent(testbed.Prometheus); err != nil {
		t.Fatal(err)
	}
	if _, err := env.PromQuery(ctx, "up", end); err == nil {
		t.Error("query succeeded with Prometheus stopped")
	}
	if err := env.StartComponent(ctx, testbed.Prometheus); err != nil {
		t.Fatal(err)
	}
	assertQuery(ctx, t, env, `count_over_time(prescaler_test_queue_depth[4h])`, end, 36)

	stopAndCheckProcesses(t, env)
}

func assertQuery(ctx context.Context, t *testing.T, env *testbed.Env, q string, at time.Time, want float64) {
	t.Helper()
	got, err := env.PromQuery(ctx, q, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != want {
		t.Errorf("%s at %s = %v, want one sample of %v", q, at.Format(time.RFC3339), got, want)
	}
}

// stopAndCheckProcesses stops the testbed and checks, by pid and with ps,
// that none of its processes is left. (Start's cleanup calls Stop again: a
// no-op.)
func stopAndCheckProcesses(t *testing.T, env *testbed.Env) {
	t.Helper()
	if t.Failed() {
		return // let Start's cleanup keep the folder and print the logs
	}
	pids := env.PIDs()
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
	// Every component's command line names the testbed folder.
	out, err := exec.Command("ps", "-eo", "pid=,args=").Output()
	if err != nil {
		t.Logf("ps: %v (skipping the ps check)", err)
		return
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(line, env.Dir) {
			t.Errorf("process left after Stop: %s", line)
		}
	}
	if len(pids) == 0 {
		t.Error("no pids recorded")
	}
	t.Logf("stopped %d processes, none left", len(pids))
}
