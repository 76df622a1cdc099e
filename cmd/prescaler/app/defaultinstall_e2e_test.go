package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
)

// The shipped configuration (config/example.yaml, the ConfigMap of both
// installs) writes nothing on a first install, on the real control plane:
// with the user's world in place and demand that asks for more replicas
// than the HPA's minimum, its target decides a floor above that minimum and
// the HPA keeps the user's spec, byte for byte, with none of prescaler's
// annotations or field ownership.
func TestDefaultInstallWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	now := time.Now().Truncate(time.Minute)
	start := now.Add(-50 * time.Hour)
	// ai_requests_total counting 10 requests a second: 600 a minute, five
	// replicas at the example's fallback capacity of 120.
	requests := testbed.SeriesFunc("ai_requests_total", map[string]string{"namespace": "default", "service": "ai-inference"},
		start, now, 15*time.Second, func(at time.Time) float64 { return 10 * at.Sub(start).Seconds() })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{requests}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 16)); err != nil {
		t.Fatal(err)
	}
	seedWorkload(ctx, t, env.Client)
	original := hpaSpec(ctx, t, env, testbed.SeedHPA)

	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, cfgPath, string(config.Example()))
	t.Setenv("PRESCALER_PROMETHEUS_URL", env.PrometheusURL)
	t.Setenv("PRESCALER_LEADER_ELECTION_ENABLED", "false")
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	var floor int32
	for range 3 {
		for _, o := range r.daemon.RunOnce(ctx, time.Now()) {
			if o.Wrote || !o.Shadow {
				t.Errorf("target %s: wrote %v, shadow %v", o.Target, o.Wrote, o.Shadow)
			}
			floor = o.Decision.Floor
		}
	}
	if floor <= 1 {
		t.Fatalf("the shipped target decided a floor of %d: the test needs one above the HPA's minimum of 1", floor)
	}
	t.Logf("the shipped target decided a floor of %d and wrote nothing", floor)
	expectUsersSpec(ctx, t, env, testbed.SeedHPA, original)
}
