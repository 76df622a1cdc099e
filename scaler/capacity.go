package scaler

import (
	"fmt"
	"math"
	"slices"
)

// Learning the per-replica capacity
//
// The floor is ⌈demand / c⌉, so c, the requests per minute one Ready replica
// serves within its service level, matters as much as the forecast. A
// configured c goes stale with every model, batch size or GPU change; the
// target's own history says what it really is.
//
// Each observation is the demand served per Ready replica r, with the latency
// and GPU utilization seen at the time. An observation is healthy when the
// latency is within the objective and the utilization under the ceiling, and
// saturated otherwise. Two estimates follow:
//
//   - Utilization. Inference throughput grows about linearly with GPU busy
//     time until the GPU saturates, so a healthy observation at utilization u
//     says a replica reaches the ceiling U at r·U/u. The median over the
//     window is robust to the odd noisy scrape. Observations under
//     minUtilization are left out: at a nearly idle GPU the ratio is noise.
//   - Saturation. Without utilization, only the limit itself tells the
//     capacity: once the window holds saturated observations, the capacity is
//     the high quantile of the healthy throughputs. Without any saturation
//     the service was never pushed to its limit, and nothing is learned (the
//     configured fallback stays), because the healthy throughputs alone would
//     understate c and ask for far too many replicas.
//
// Either estimate is then capped by the low quantile of the saturated
// throughputs: a replica that breached its latency objective at r cannot
// serve r within it, whatever its GPU says (memory bandwidth, CPU
// pre-processing, KV-cache pressure all saturate before the GPU's busy time).

// CapacitySample is one observation of a target serving.
type CapacitySample struct {
	// PerReplica is the demand served per Ready replica, requests per minute.
	PerReplica float64
	// Latency is the observed latency in seconds; NaN when unknown.
	Latency float64
	// GPUUtilization is the mean GPU utilization, a fraction; NaN when unknown.
	GPUUtilization float64
}

// CapacityOptions configure a CapacityLearner.
type CapacityOptions struct {
	// LatencySLO is the latency objective in seconds; 0 means none.
	LatencySLO float64
	// GPUCeiling is the utilization (0..1] at which a replica is saturated.
	GPUCeiling float64
	// Window is how many recent observations are kept.
	Window int
	// MinSamples is how many usable observations an estimate needs.
	MinSamples int
}

// Estimation constants (see the comment at the top of the file).
const (
	// minUtilization: below it the throughput/utilization ratio is noise.
	minUtilization = 0.1
	// healthyQuantile of healthy throughputs is the saturation estimate.
	healthyQuantile = 0.9
	// saturatedQuantile of saturated throughputs caps every estimate.
	saturatedQuantile = 0.25
)

// CapacityEstimate is a learned per-replica capacity and how it was found.
type CapacityEstimate struct {
	// PerReplica is the requests per minute one Ready replica serves within
	// the objective.
	PerReplica float64
	// Method is "gpu_utilization" or "saturation".
	Method string
	// Samples is the number of observations behind the estimate.
	Samples int
	// Capped reports that saturated observations lowered the estimate.
	Capped bool
}

// CapacityLearner keeps a window of observations and estimates from them.
// It is not safe for concurrent use.
type CapacityLearner struct {
	opts    CapacityOptions
	samples []CapacitySample // ring buffer of the last Window observations
	next    int
	full    bool
}

// NewCapacityLearner validates the options and returns an empty learner.
func NewCapacityLearner(o CapacityOptions) (*CapacityLearner, error) {
	switch {
	case o.LatencySLO < 0 || math.IsNaN(o.LatencySLO):
		return nil, fmt.Errorf("capacity learner: latency objective %v must be >= 0", o.LatencySLO)
	case !(o.GPUCeiling > 0 && o.GPUCeiling <= 1):
		return nil, fmt.Errorf("capacity learner: GPU ceiling %v must be in (0, 1]", o.GPUCeiling)
	case o.Window < 1:
		return nil, fmt.Errorf("capacity learner: window %d must be >= 1", o.Window)
	case o.MinSamples < 1 || o.MinSamples > o.Window:
		return nil, fmt.Errorf("capacity learner: min samples %d must be in [1, window %d]", o.MinSamples, o.Window)
	}
	return &CapacityLearner{opts: o, samples: make([]CapacitySample, 0, o.Window)}, nil
}

// Add records one observation. Observations without served demand (no
// Ready replica, no traffic, not a number) teach nothing and are dropped.
func (l *CapacityLearner) Add(s CapacitySample) {
	if !(s.PerReplica > 0) || math.IsInf(s.PerReplica, 0) {
		return
	}
	if len(l.samples) < l.opts.Window {
		l.samples = append(l.samples, s)
		return
	}
	l.samples[l.next] = s
	l.next = (l.next + 1) % l.opts.Window
}

// Saturated reports whether an observation breaches the latency objective
// or the GPU ceiling.
func (l *CapacityLearner) Saturated(s CapacitySample) bool {
	latencyHigh := l.opts.LatencySLO > 0 && s.Latency > l.opts.LatencySLO
	gpuHigh := s.GPUUtilization > l.opts.GPUCeiling
	return latencyHigh || gpuHigh
}

// Estimate returns the learned capacity; ok is false while the window holds
// too little to tell.
func (l *CapacityLearner) Estimate() (CapacityEstimate, bool) {
	var byUtil, healthy, saturated []float64
	for _, s := range l.samples {
		if l.Saturated(s) {
			saturated = append(saturated, s.PerReplica)
			continue
		}
		healthy = append(healthy, s.PerReplica)
		if s.GPUUtilization >= minUtilization {
			byUtil = append(byUtil, s.PerReplica*l.opts.GPUCeiling/s.GPUUtilization)
		}
	}
	var est CapacityEstimate
	switch {
	case len(byUtil) >= l.opts.MinSamples:
		est = CapacityEstimate{PerReplica: quantile(byUtil, 0.5), Method: "gpu_utilization", Samples: len(byUtil)}
	case len(saturated) > 0 && len(healthy) >= l.opts.MinSamples:
		est = CapacityEstimate{PerReplica: quantile(healthy, healthyQuantile), Method: "saturation", Samples: len(healthy)}
	default:
		return CapacityEstimate{}, false
	}
	if len(saturated) > 0 {
		if limit := quantile(saturated, saturatedQuantile); limit < est.PerReplica {
			est.PerReplica, est.Capped = limit, true
		}
	}
	return est, true
}

// quantile is the q-quantile of xs by linear interpolation between order
// statistics (xs is reordered).
func quantile(xs []float64, q float64) float64 {
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (pos-float64(lo))*(xs[hi]-xs[lo])
}
