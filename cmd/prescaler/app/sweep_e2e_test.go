package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// Nothing prescaler wrote outlives the target that wrote it, on the real
// control plane: a target removed from the config while prescaler was down
// is given back by the next leader's first loop, and a target re-pointed at
// another HPA gives its old one back on the loop after the reload. Each
// HPA's spec is then the user's, byte for byte, with none of prescaler's
// annotations or field ownership left.
func TestSweepGivesObjectsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 300 })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 16)); err != nil {
		t.Fatal(err)
	}
	seedWorkload(ctx, t, env.Client)
	createSecondWorkload(ctx, t, env)
	original := map[string]string{testbed.SeedHPA: hpaSpec(ctx, t, env, testbed.SeedHPA), secondHPA: hpaSpec(ctx, t, env, secondHPA)}

	cfgPath := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeTargets := func(targets ...string) {
		writeFile(t, cfgPath, fmt.Sprintf(`
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: false}
targets:
%s`, env.PrometheusURL, strings.Join(targets, "")))
	}
	target := func(name, hpa string) string {
		return fmt.Sprintf(`  - {name: %s, namespace: default, hpa: %s, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, name, hpa)
	}
	start := func() *runner {
		r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.startInformers(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}

	writeTargets(target("a", testbed.SeedHPA), target("b", secondHPA))
	first := start()
	first.daemon.RunOnce(ctx, time.Now())
	for _, name := range []string{testbed.SeedHPA, secondHPA} {
		if got := floorOf(ctx, t, env, name); got != 6 { // 300 req/min at 50 per replica
			t.Fatalf("%s floor %d, want 6", name, got)
		}
	}

	t.Run("removed while down", func(t *testing.T) {
		// The first process is gone (its loop never runs again); the
		// config loses b; the next process's first loop sweeps.
		writeTargets(target("a", testbed.SeedHPA))
		next := start()
		next.daemon.RunOnce(ctx, time.Now())
		expectUsersSpec(ctx, t, env, secondHPA, original[secondHPA])
		expectEvent(ctx, t, env, secondHPA, writer.ReasonRestored)
		if got := floorOf(ctx, t, env, testbed.SeedHPA); got != 6 {
			t.Errorf("the configured target's floor %d after the sweep, want 6", got)
		}
	})

	t.Run("re-pointed", func(t *testing.T) {
		r := start()
		writeTargets(target("a", secondHPA))
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.daemon.Update(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		r.daemon.RunOnce(ctx, time.Now())
		expectUsersSpec(ctx, t, env, testbed.SeedHPA, original[testbed.SeedHPA])
		if got := floorOf(ctx, t, env, secondHPA); got != 6 {
			t.Errorf("the re-pointed target's new HPA floor %d, want 6", got)
		}
	})
}

// The second workload: a Deployment and an HPA like the seed's, with a
// user's own floor of 2 and a behavior, so that giving it back has more to
// get right than the seed's bare HPA.
const (
	secondDeployment = "ai-inference-b"
	secondHPA        = "inference-hpa-b"
)

func createSecondWorkload(ctx context.Context, t *testing.T, env *testbed.Env) {
	t.Helper()
	dep := testbed.Seed{}.Deployment()
	dep.Name = secondDeployment
	labels := map[string]string{"app": secondDeployment}
	dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels = labels, labels
	if _, err := env.Client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	window, two := int32(120), int32(2)
	hpa := testbed.Seed{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window}}}.HPA()
	hpa.Name, hpa.Spec.ScaleTargetRef.Name, hpa.Spec.MinReplicas = secondHPA, secondDeployment, &two
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// hpaSpec is the HPA's spec as JSON, the form compared byte for byte.
func hpaSpec(ctx context.Context, t *testing.T, env *testbed.Env, name string) string {
	t.Helper()
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(hpa.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func floorOf(ctx context.Context, t *testing.T, env *testbed.Env, name string) int32 {
	t.Helper()
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *hpa.Spec.MinReplicas
}

// expectUsersSpec checks that an HPA holds the user's spec byte for byte
// and nothing of prescaler: no annotation, no field manager.
func expectUsersSpec(ctx context.Context, t *testing.T, env *testbed.Env, name, want string) {
	t.Helper()
	if got := hpaSpec(ctx, t, env, name); got != want {
		t.Errorf("%s spec after the sweep:\n got %s\nwant %s", name, got, want)
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range hpa.Annotations {
		if strings.HasPrefix(k, "prescaler.io/") {
			t.Errorf("%s keeps annotation %s", name, k)
		}
	}
	for _, mf := range hpa.ManagedFields {
		if mf.Manager == writer.FieldManager {
			t.Errorf("%s keeps field manager %s", name, mf.Manager)
		}
	}
}

func expectEvent(ctx context.Context, t *testing.T, env *testbed.Env, name, reason string) {
	t.Helper()
	testbed.WaitFor(ctx, t, "a "+reason+" Event on "+name, func() (bool, error) {
		evs, err := env.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == reason {
				return true, nil
			}
		}
		return false, nil
	})
}
