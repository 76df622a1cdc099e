package scaler

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A replica that serves 100 requests per minute at 100 % GPU: utilization
// grows linearly with throughput. Learning at a 0.8 ceiling must find 80,
// from observations well below saturation, within the noise.
func TestCapacityLearnerExtrapolatesFromUtilization(t *testing.T) {
	l := mustLearner(t, CapacityOptions{LatencySLO: 0.5, GPUCeiling: 0.8, Window: 200, MinSamples: 30})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		r := 20 + 40*rng.Float64() // 20..60 req/min per replica: never saturated
		u := r / 100 * (1 + 0.05*rng.NormFloat64())
		l.Add(CapacitySample{PerReplica: r, Latency: 0.2, GPUUtilization: u})
	}
	est, ok := l.Estimate()
	if !ok || est.Method != "gpu_utilization" || est.Capped {
		t.Fatalf("estimate %+v ok=%v, want an uncapped gpu_utilization estimate", est, ok)
	}
	if math.Abs(est.PerReplica-80) > 2 {
		t.Errorf("learned %.1f req/min per replica, want 80 ± 2", est.PerReplica)
	}
}

// Latency breaches at 70 req/min although the GPU says 80: the breaches cap
// the estimate (the replica saturates on something other than GPU time).
func TestCapacityLearnerCappedByLatencyBreaches(t *testing.T) {
	l := mustLearner(t, CapacityOptions{LatencySLO: 0.5, GPUCeiling: 0.8, Window: 300, MinSamples: 30})
	for i := range 300 {
		r := 30 + float64(i%50) // 30..79
		lat := 0.2
		if r >= 70 {
			lat = 0.9
		}
		l.Add(CapacitySample{PerReplica: r, Latency: lat, GPUUtilization: r / 100})
	}
	est, ok := l.Estimate()
	if !ok || !est.Capped {
		t.Fatalf("estimate %+v ok=%v, want one capped by the breaches", est, ok)
	}
	if est.PerReplica < 70 || est.PerReplica > 73 {
		t.Errorf("learned %.1f, want the low quantile of the breaching throughputs, 70..73", est.PerReplica)
	}
}

// Without utilization, only saturation teaches: never-saturated history
// learns nothing (the fallback stays); once breaches appear, the high
// quantile of healthy throughput is the capacity.
func TestCapacityLearnerFromSaturationOnly(t *testing.T) {
	l := mustLearner(t, CapacityOptions{LatencySLO: 0.5, GPUCeiling: 0.9, Window: 100, MinSamples: 20})
	for i := range 60 {
		l.Add(CapacitySample{PerReplica: float64(10 + i%40), Latency: 0.1, GPUUtilization: math.NaN()})
	}
	if est, ok := l.Estimate(); ok {
		t.Fatalf("learned %+v from a service never pushed to its limit", est)
	}
	for i := range 20 {
		l.Add(CapacitySample{PerReplica: float64(55 + i), Latency: 2, GPUUtilization: math.NaN()})
	}
	est, ok := l.Estimate()
	if !ok || est.Method != "saturation" {
		t.Fatalf("estimate %+v ok=%v, want a saturation estimate", est, ok)
	}
	if est.PerReplica < 40 || est.PerReplica > 49 {
		t.Errorf("learned %.1f, want the 0.9 quantile of the healthy 10..49", est.PerReplica)
	}
}

func TestCapacityLearnerIgnoresIdleAndForgetsOldSamples(t *testing.T) {
	l := mustLearner(t, CapacityOptions{GPUCeiling: 1, Window: 10, MinSamples: 10})
	for range 10 {
		l.Add(CapacitySample{PerReplica: 50, GPUUtilization: 0.5}) // 100 at full GPU
	}
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		l.Add(CapacitySample{PerReplica: r, GPUUtilization: 0.5})
	}
	if est, _ := l.Estimate(); est.PerReplica != 100 {
		t.Fatalf("idle or invalid samples changed the estimate to %v", est.PerReplica)
	}
	for range 10 {
		l.Add(CapacitySample{PerReplica: 50, GPUUtilization: 0.25}) // a faster model: 200
	}
	if est, _ := l.Estimate(); est.PerReplica != 200 {
		t.Errorf("after a full window of new samples the estimate is %v, want 200", est.PerReplica)
	}
	// Below minUtilization the ratio is noise and is not used.
	idle := mustLearner(t, CapacityOptions{GPUCeiling: 1, Window: 10, MinSamples: 1})
	idle.Add(CapacitySample{PerReplica: 1, GPUUtilization: 0.01})
	if est, ok := idle.Estimate(); ok {
		t.Errorf("learned %+v from a nearly idle GPU", est)
	}
}

func TestCapacityOptionsErrorsNameTheValue(t *testing.T) {
	for _, o := range []CapacityOptions{
		{LatencySLO: -1, GPUCeiling: 0.9, Window: 10, MinSamples: 1},
		{GPUCeiling: 0, Window: 10, MinSamples: 1},
		{GPUCeiling: 1.5, Window: 10, MinSamples: 1},
		{GPUCeiling: 0.9, Window: 0, MinSamples: 1},
		{GPUCeiling: 0.9, Window: 10, MinSamples: 11},
	} {
		if _, err := NewCapacityLearner(o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func mustLearner(t *testing.T, o CapacityOptions) *CapacityLearner {
	t.Helper()
	l, err := NewCapacityLearner(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
