package daemon

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// servingSignals plays a Deployment of ready replicas whose GPUs are busy in
// proportion to the demand they serve: fullRate requests per minute per
// replica keep a GPU at 100 %. latency is reported as is.
type servingSignals struct {
	demand   *synthDemand
	ready    int32
	fullRate float64
	mu       sync.Mutex
	latency  float64
}

func (s *servingSignals) Signals(_ context.Context, _ *config.Target, at time.Time) (Signals, error) {
	i := int(at.Add(-time.Minute).Unix()/60 - s.demand.minutes.Start)
	perReplica := s.demand.minutes.Values[i] / float64(s.ready)
	s.mu.Lock()
	defer s.mu.Unlock()
	return Signals{Latency: s.latency, GPUUtilization: perReplica / s.fullRate, QueueDepth: 0, ReadyReplicas: s.ready}, nil
}

// A target with replicaCapacity auto starts on its fallback and, after
// enough loops of observations, sizes its floor with the capacity its GPUs
// show: 100 req/min at full GPU, 90 at the 0.9 ceiling.
func TestAutoCapacityIsLearnedFromGPUUtilization(t *testing.T) {
	tc := testTarget("a")
	tc.ReplicaCapacity = config.ReplicaCapacity{Auto: true}
	tc.FallbackReplicaCapacity = 30
	tc.Queries.GPUUtilization = "gpu"
	r := newRig(t, fixedCapacity{n: 200}, tc)
	r.d.src.signals = &servingSignals{demand: r.demand, ready: 10, fullRate: 100, latency: math.NaN()}

	first := r.d.RunOnce(context.Background(), r.evening)[0]
	if first.CapacityLearned || first.ReplicaCapacity != 30 {
		t.Fatalf("first loop capacity %v learned=%v, want the fallback 30", first.ReplicaCapacity, first.CapacityLearned)
	}
	var last Outcome
	for i := 1; i <= minLearnSamples; i++ {
		last = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
	}
	if !last.CapacityLearned || math.Abs(float64(last.ReplicaCapacity)-90) > 0.5 {
		t.Fatalf("after %d loops capacity %v learned=%v, want 90 learned", minLearnSamples, last.ReplicaCapacity, last.CapacityLearned)
	}
	// The same forecast needs three times fewer replicas at 90 than at 30.
	if ratio := float64(first.Decision.Needed) / float64(last.Decision.Needed); ratio < 2.3 || ratio > 3.7 {
		t.Errorf("needed %d with the fallback, %d learned: ratio %.2f, want about 3", first.Decision.Needed, last.Decision.Needed, ratio)
	}
	if v := testutil.ToFloat64(r.d.metrics.capacityLearned.WithLabelValues(labelsOf("a")...)); v != 1 {
		t.Errorf("prescaler_replica_capacity_learned %v, want 1", v)
	}
}

// A latency breach while the HPA runs more replicas than the floor says the
// forecast was short; the signal is exported and counted.
func TestSLOBreachBelowTheHPAsCountIsAShortForecast(t *testing.T) {
	tc := testTarget("a")
	tc.SLO.Latency = config.Duration(500 * time.Millisecond)
	tc.Queries.Latency = "latency"
	r := newRig(t, fixedCapacity{n: 200}, tc)
	sig := &servingSignals{demand: r.demand, ready: 4, fullRate: 100, latency: 0.2}
	r.d.src.signals = sig
	r.d.RunOnce(context.Background(), r.evening)
	sig.latency = 2
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 3, CurrentReplicas: 9}
	out := r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]
	if !out.SLOBreach || !out.ForecastShort || out.Health.ShortShare == 0 {
		t.Fatalf("breach %v short %v share %v, want a short forecast", out.SLOBreach, out.ForecastShort, out.Health.ShortShare)
	}
	if v := testutil.ToFloat64(r.d.metrics.shortTotal.WithLabelValues(labelsOf("a")...)); v != 1 {
		t.Errorf("prescaler_forecast_short_total %v, want 1", v)
	}
	// A breach with the floor at or above the HPA's count is not the
	// forecast's fault (the floor already asked for more).
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 9, CurrentReplicas: 9}
	out = r.d.RunOnce(context.Background(), r.evening.Add(2*time.Minute))[0]
	if !out.SLOBreach || out.ForecastShort {
		t.Errorf("breach %v short %v, want a breach that is not a short forecast", out.SLOBreach, out.ForecastShort)
	}
}

// erraticDemand multiplies the trace's demand by factor on even minutes and
// divides it on odd ones from a time on: a service whose demand no longer
// follows any pattern the forecaster can learn.
type erraticDemand struct {
	*synthDemand
	from   time.Time
	factor float64
}

func (s *erraticDemand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	values, err := s.synthDemand.Steps(ctx, t, from, to)
	step := time.Duration(t.Forecast.Step)
	for i := range values {
		at := from.Add(time.Duration(i) * step)
		switch {
		case at.Before(s.from):
		case at.Unix()/60%2 == 0:
			values[i] *= scaler.PerMinute(s.factor)
		default:
			values[i] /= scaler.PerMinute(s.factor)
		}
	}
	return values, err
}

// Demand turns erratic (×4 and ÷4 on alternate minutes): once half the window is scored
// the target is demoted (floor = the user's min, an Event, the metric);
// when demand returns to what the forecaster expects, it is promoted back.
func TestDemotionAndPromotion(t *testing.T) {
	tc := testTarget("a")
	tc.Demotion.Window = config.Duration(time.Hour)
	r := newRig(t, fixedCapacity{n: 200}, tc)
	wrong := &erraticDemand{synthDemand: r.demand, from: r.evening, factor: 4}
	r.d.src.demand = wrong
	now := r.evening
	r.d.RunOnce(context.Background(), now)
	loopUntil := func(what string, limit int, cond func(Outcome) bool) Outcome {
		t.Helper()
		for range limit {
			now = now.Add(time.Minute)
			if out := r.d.RunOnce(context.Background(), now)[0]; cond(out) {
				return out
			}
		}
		t.Fatalf("%s did not happen within %d loops", what, limit)
		return Outcome{}
	}
	out := loopUntil("demotion", 40, func(o Outcome) bool { return o.Demoted })
	if out.Decision.Reason != scaler.ReasonDemoted || out.Decision.Floor != 1 || out.Health.WAPE < 0.5 {
		t.Errorf("demoted decision %+v with error %v: want the user's floor 1", out.Decision, out.Health.WAPE)
	}
	if ev := r.scale.events["a"]; len(ev) != 1 || !strings.HasPrefix(ev[0], ReasonDemoted+": forecast error") {
		t.Errorf("events %q, want one %s", ev, ReasonDemoted)
	}
	if v := testutil.ToFloat64(r.d.metrics.demoted.WithLabelValues(labelsOf("a")...)); v != 1 {
		t.Errorf("prescaler_demoted %v, want 1", v)
	}
	// Inside the hysteresis band it stays demoted; once the window holds
	// only well-forecast demand it is promoted.
	wrong.factor = 1
	out = loopUntil("promotion", 90, func(o Outcome) bool { return !o.Demoted })
	if out.Decision.Reason == scaler.ReasonDemoted || out.Health.WAPE >= 0.3 {
		t.Errorf("promoted with decision %+v, error %v", out.Decision, out.Health.WAPE)
	}
	if ev := r.scale.events["a"]; len(ev) != 2 || !strings.HasPrefix(ev[1], ReasonPromoted) {
		t.Errorf("events %q, want a promotion second", ev)
	}
	if v := testutil.ToFloat64(r.d.metrics.demotions.WithLabelValues(labelsOf("a", "promote")...)); v != 1 {
		t.Errorf("promotions counted %v, want 1", v)
	}
}

// With demotion disabled the error is exported but never acted on.
func TestDemotionDisabledOnlyExportsTheError(t *testing.T) {
	tc := testTarget("a")
	tc.Demotion.Enabled = false
	tc.Demotion.Window = config.Duration(time.Hour)
	r := newRig(t, fixedCapacity{n: 200}, tc)
	r.d.src.demand = &erraticDemand{synthDemand: r.demand, from: r.evening, factor: 4}
	var out Outcome
	for i := range 45 {
		out = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
	}
	if out.Demoted || out.Health.WAPE < 0.5 || len(r.scale.events["a"]) != 0 {
		t.Errorf("demoted %v error %v events %v: want a high error and no demotion", out.Demoted, out.Health.WAPE, r.scale.events["a"])
	}
	if v := testutil.ToFloat64(r.d.metrics.forecastError.WithLabelValues(labelsOf("a")...)); v < 0.5 {
		t.Errorf("prescaler_forecast_error %v", v)
	}
}

// A config change that keeps the model keeps the forecast's record and the
// demotion state; one that changes the window starts them over.
func TestReconfigureKeepsTheRecord(t *testing.T) {
	tc := testTarget("a")
	tc.Demotion.Window = config.Duration(time.Hour)
	r := newRig(t, fixedCapacity{n: 200}, tc)
	r.d.src.demand = &erraticDemand{synthDemand: r.demand, from: r.evening, factor: 4}
	var out Outcome
	for i := range 45 {
		out = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
	}
	if !out.Demoted {
		t.Fatal("not demoted")
	}
	tc.Demotion.ErrorAbove = 10
	tc.Demotion.RecoverBelow = 5
	if err := r.d.Update(context.Background(), testConfig(tc)); err != nil {
		t.Fatal(err)
	}
	if !r.d.targets["a"].health.demoted {
		t.Error("a threshold change dropped the demotion state")
	}
	tc.Demotion.Window = config.Duration(2 * time.Hour)
	if err := r.d.Update(context.Background(), testConfig(tc)); err != nil {
		t.Fatal(err)
	}
	if h := r.d.targets["a"].health; h.demoted || h.short.size() != 120 {
		t.Errorf("after a window change: demoted %v, window %d steps", h.demoted, h.short.size())
	}
}
