package hpa

import (
	"fmt"
	"time"
)

// t0 is the fixed instant every test starts from.
var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

const queueMetric = "ai_request_queue_depth"

// queue is a set of ready, running pods reporting the given queue depths.
func queue(values ...float64) []PodSample {
	out := make([]PodSample, len(values))
	for i, v := range values {
		out[i] = PodSample{Name: fmt.Sprintf("q%d", i), Ready: true, HasValue: true, Value: v}
	}
	return out
}

// same is n copies of v.
func same(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// cpuPods is a set of ready, running, long-started pods with the given cpu
// usage in cores and one core requested each.
func cpuPods(usages ...float64) []PodSample {
	out := make([]PodSample, len(usages))
	for i, u := range usages {
		out[i] = PodSample{Name: fmt.Sprintf("c%d", i), Ready: true, HasValue: true, Value: u, Request: 1}
	}
	return out
}

// with appends pods to a sample set.
func with(samples []PodSample, more ...PodSample) []PodSample {
	return append(append([]PodSample(nil), samples...), more...)
}

func i32(v int32) *int32            { return &v }
func f64(v float64) *float64        { return &v }
func behavior(b Behavior) *Behavior { return &b }

// queueSpec is the user's HPA: ai_request_queue_depth averaging 5 per pod.
func queueSpec(minR, maxR int32, b *Behavior) Spec {
	return Spec{MinReplicas: minR, MaxReplicas: maxR, Metrics: []MetricSpec{PodsMetric(queueMetric, 5)}, Behavior: b}
}

// defaultParams is the replica calculation under the controller defaults.
func defaultParams(now time.Time, current int32) calcParams {
	cfg := DefaultConfig()
	return calcParams{
		now:                   now,
		current:               current,
		tol:                   tolerances{down: cfg.Tolerance, up: cfg.Tolerance},
		cpuInitPeriod:         cfg.CPUInitializationPeriod,
		initialReadinessDelay: cfg.InitialReadinessDelay,
	}
}
