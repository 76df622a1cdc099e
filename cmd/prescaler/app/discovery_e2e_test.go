package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
)

// A team opts its HPA in with an annotation, on the real control plane,
// without touching prescaler's file: the HPA in an allowed namespace is
// managed within one loop, one outside the allow-list is left alone with a
// log line, and removing the annotation gives the HPA its user's spec
// back, byte for byte.
func TestAnnotatedHPAIsPickedUpAndReleased(t *testing.T) {
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
	original := hpaSpec(ctx, t, env, testbed.SeedHPA)
	outside := copyHPAToNamespace(ctx, t, env, "team-outside")

	cfgPath := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`
interval: 1s
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: false}
server: {address: %q}
discovery:
  enabled: true
  namespaces: [default]
  target:
    replicaCapacity: 50
    leadTime: 3m
    forecast: {step: 1m, season: 1d, history: 2d}
    queries: {demand: 'ai_requests_per_minute{service="{{.Workload}}"}'}
`, env.PrometheusURL, freeAddr(t)))
	var logs lockedBuffer
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, reload: 200 * time.Millisecond},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	annotate(ctx, t, env, "team-outside", outside, "true")
	annotate(ctx, t, env, "default", testbed.SeedHPA, "true")
	annotated := time.Now()
	waitUntil(ctx, t, "the annotated HPA's floor is raised", func() bool { return floorOf(ctx, t, env, testbed.SeedHPA) == 6 })
	pickedUp := time.Since(annotated)
	t.Logf("annotated HPA managed %s after the annotation", pickedUp.Round(10*time.Millisecond))
	if pickedUp > 5*time.Second {
		t.Errorf("picked up after %s, want within a loop and a re-read (1 s + 0.2 s, with slack)", pickedUp)
	}
	waitUntil(ctx, t, "a log line for the HPA outside the allow-list", func() bool {
		return strings.Contains(logs.String(), `"msg":"annotated object left out","object":"HorizontalPodAutoscaler team-outside/`+outside)
	})
	if hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("team-outside").Get(ctx, outside, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if *hpa.Spec.MinReplicas != 1 || hpa.Annotations[originalAnnotationForTest] != "" {
		t.Errorf("the HPA outside the allow-list was written: minReplicas %d, annotations %v", *hpa.Spec.MinReplicas, hpa.Annotations)
	}

	annotate(ctx, t, env, "default", testbed.SeedHPA, "")
	waitUntil(ctx, t, "the released HPA's own spec is back", func() bool { return hpaSpec(ctx, t, env, testbed.SeedHPA) == original })
	expectUsersSpec(ctx, t, env, testbed.SeedHPA, original)
}

// originalAnnotationForTest is the annotation that holds the user's values.
const originalAnnotationForTest = "prescaler.io/original"

// copyHPAToNamespace creates namespace ns with a copy of the seed's HPA.
func copyHPAToNamespace(ctx context.Context, t *testing.T, env *testbed.Env, ns string) string {
	t.Helper()
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, testbed.SeedHPA, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hpa.ObjectMeta = metav1.ObjectMeta{Name: hpa.Name, Namespace: ns}
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return hpa.Name
}

// annotate sets prescaler.io/enabled on an HPA, or removes it when value
// is empty, by a JSON merge patch as kubectl annotate does.
func annotate(ctx context.Context, t *testing.T, env *testbed.Env, ns, name, value string) {
	t.Helper()
	v := "null"
	if value != "" {
		v = fmt.Sprintf("%q", value)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%s}}}`, config.AnnotationEnabled, v)
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond every 100 ms until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// String is everything written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
