package daemon

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
)

// fakeTuner answers every replay with the next result and records the
// requests.
type fakeTuner struct {
	mu       sync.Mutex
	results  []TuneResult
	err      error
	requests []TuneRequest
}

func (f *fakeTuner) Tune(_ context.Context, req TuneRequest) (TuneResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.err != nil {
		return TuneResult{}, f.err
	}
	r := f.results[0]
	if len(f.results) > 1 {
		f.results = f.results[1:]
	}
	return r, nil
}

func tunedRig(t *testing.T, tuner Tuner, tc config.Target) *rig {
	t.Helper()
	r := newRig(t, fixedCapacity{n: 40}, tc)
	r.reg = prometheus.NewRegistry()
	var err error
	r.d, err = New(testConfig(tc), Options{Demand: r.demand, Capacity: fixedCapacity{n: 40}, Startup: fixedStartup{},
		Scaler: r.scale, Metrics: NewMetrics(r.reg), Tuner: tuner})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// With an overload budget the target's history is replayed off the loop,
// the choice is used from the next loop on, exported, and announced once;
// the next replay waits for tuning.every.
func TestOverloadBudgetTunesTheHeadroom(t *testing.T) {
	tc := testTarget("a")
	tc.SLO.OverloadBudget = config.Duration(10 * time.Minute)
	tuner := &fakeTuner{results: []TuneResult{{Headroom: policy.Headroom{Quantile: 0.7, Utilization: 0.9}, ReplayGPUHours: 812,
		ReplayOverloadedPerDay: 4.5, Met: true, AdviceTarget: 0.9, AdviceSaved: 0.12, Advice: "HPA target 70 % → 90 %: 12 % fewer GPU-hours"}}}
	r := tunedRig(t, tuner, tc)
	ctx := context.Background()

	first := r.d.RunOnce(ctx, r.evening)[0]
	if first.Tuned != nil || first.Headroom != tc.Headroom() {
		t.Fatalf("before any replay: tuned %+v, headroom %s; want the configured %s", first.Tuned, first.Headroom, tc.Headroom())
	}
	r.d.DrainTuning(ctx)
	if len(tuner.requests) != 1 {
		t.Fatalf("%d replays, want 1", len(tuner.requests))
	}
	req := tuner.requests[0]
	if len(req.Demand) != 7*24*60 || !req.End.Equal(r.evening) || req.ReplicaCapacity != 50 || req.Lead != 3*time.Minute {
		t.Errorf("request: %d steps ending %s, capacity %v, lead %s; want the 7-day history to %s, 50, 3m",
			len(req.Demand), req.End, req.ReplicaCapacity, req.Lead, r.evening)
	}

	second := r.d.RunOnce(ctx, r.evening.Add(time.Minute))[0]
	if second.Tuned == nil || second.Headroom != (policy.Headroom{Quantile: 0.7, Utilization: 0.9}) {
		t.Fatalf("after the replay: headroom %s, want the tuned quantile 0.70, floor utilization 0.90", second.Headroom)
	}
	for stat, want := range map[string]float64{"quantile": 0.7, "floor_utilization": 0.9} {
		if v := testutil.ToFloat64(r.d.metrics.headroom.WithLabelValues(labelsOf("a", stat)...)); v != want {
			t.Errorf("prescaler_headroom{setting=%q} = %v, want %v", stat, v, want)
		}
	}
	if v := testutil.ToFloat64(r.d.metrics.tuneReplay.WithLabelValues(labelsOf("a", "budget_minutes_per_day")...)); v != 10 {
		t.Errorf("budget metric %v, want 10", v)
	}
	if v := testutil.ToFloat64(r.d.metrics.hpaAdvice.WithLabelValues(labelsOf("a", "target")...)); v != 0.9 {
		t.Errorf("advice metric %v, want 0.9", v)
	}
	events := strings.Join(r.scale.events["a"], "\n")
	if strings.Count(events, ReasonHeadroomTuned) != 1 || strings.Count(events, ReasonHPAAdvice) != 1 ||
		!strings.Contains(events, "quantile 0.70, floor utilization 0.90") {
		t.Errorf("events:\n%s\nwant one HeadroomTuned naming the choice and one HPATargetAdvice", events)
	}

	// No new replay before tuning.every; the Event is not repeated.
	r.d.RunOnce(ctx, r.evening.Add(2*time.Hour))
	r.d.DrainTuning(ctx)
	if len(tuner.requests) != 1 || strings.Count(strings.Join(r.scale.events["a"], "\n"), ReasonHeadroomTuned) != 1 {
		t.Errorf("%d replays and events %v two hours later, want 1 and one Event", len(tuner.requests), r.scale.events["a"])
	}
	r.d.RunOnce(ctx, r.evening.Add(25*time.Hour))
	r.d.DrainTuning(ctx)
	if len(tuner.requests) != 2 {
		t.Errorf("%d replays a day later, want 2", len(tuner.requests))
	}
}

// A failed replay keeps the configured headroom, is reported as a loop
// problem once, and is retried after a tenth of tuning.every; a target
// without a budget is never replayed.
func TestFailedReplayKeepsTheHeadroom(t *testing.T) {
	tc := testTarget("a")
	tc.SLO.OverloadBudget = config.Duration(5 * time.Minute)
	tuner := &fakeTuner{err: errors.New("replay failed")}
	r := tunedRig(t, tuner, tc)
	ctx := context.Background()
	r.d.RunOnce(ctx, r.evening)
	r.d.DrainTuning(ctx)
	out := r.d.RunOnce(ctx, r.evening.Add(time.Minute))[0]
	if out.Tuned != nil || out.Headroom != tc.Headroom() || len(out.Errs) != 1 || !strings.Contains(out.Errs[0].Error(), "replay failed") {
		t.Fatalf("outcome after a failed replay: tuned %+v, headroom %s, errors %v", out.Tuned, out.Headroom, out.Errs)
	}
	r.d.RunOnce(ctx, r.evening.Add(3*time.Hour))
	r.d.DrainTuning(ctx)
	if len(tuner.requests) != 2 {
		t.Errorf("%d replays, want a retry after 2.4 h", len(tuner.requests))
	}

	plain := testTarget("b")
	other := &fakeTuner{err: errors.New("never called")}
	rb := tunedRig(t, other, plain)
	rb.d.RunOnce(ctx, rb.evening)
	rb.d.DrainTuning(ctx)
	if len(other.requests) != 0 {
		t.Errorf("a target without a budget was replayed %d times", len(other.requests))
	}
}
