// Package startup measures how long a target's pods take to start: from pod
// creation to Ready. It is the lead time of the scaler's decision
// (scaler.Inputs.Lead): a replica asked for now serves only that much later.
//
// The time covers everything between the ReplicaSet creating the pod and the
// pod serving: scheduling, image pull, model download and load onto the GPU,
// and the readiness probe. Creation is the pod's creationTimestamp; Ready is
// the lastTransitionTime of its Ready condition when it first turned True.
//
// It lives apart from collector/capacity: its input is one target's pod
// timestamps, its output a duration for scaler.Inputs.Lead, and it shares no
// code with the capacity arithmetic beyond the pod informer, which both take
// from the daemon's shared informer factory.
//
// The maths (Select, Quantile, Summarize) is pure; Recorder is the informer
// adapter. It records each pod's first Ready transition as it sees it, for
// two reasons a plain list of pods cannot serve: a Ready condition that
// flaps later (an overloaded inference server failing its readiness probe)
// moves lastTransitionTime, and pods removed by a scale-down take their
// samples with them.
package startup

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// ErrNoSamples: no pod of the target became Ready in the window, so there is
// nothing to estimate from; the daemon keeps its last or configured lead time.
var ErrNoSamples = errors.New("startup: no pod became Ready in the window")

// ErrNotSynced: the pod informer has not finished its first list.
var ErrNotSynced = errors.New("startup: pod informer not synced")

// Sample is one pod's start-up: created, then Ready.
type Sample struct {
	Namespace string
	Labels    map[string]string
	Created   time.Time
	Ready     time.Time
}

// Duration is the sample's start-up time.
func (s Sample) Duration() time.Duration { return s.Ready.Sub(s.Created) }

// Select returns the start-up times of the samples of namespace/selector that
// became Ready in (since, until]. Samples whose Ready precedes their
// creation (clock skew between the API server and the kubelet) are dropped.
func Select(samples []Sample, namespace string, selector labels.Selector, since, until time.Time) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if s.Namespace != namespace || !selector.Matches(labels.Set(s.Labels)) {
			continue
		}
		if !s.Ready.After(since) || s.Ready.After(until) || s.Ready.Before(s.Created) {
			continue
		}
		out = append(out, s.Duration())
	}
	return out
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of d by linear interpolation
// between order statistics: with the n values sorted, position h = (n−1)q,
// the value x[⌊h⌋] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]). This is definition 7 of
// Hyndman & Fan, "Sample quantiles in statistical packages" (1996), the
// default of R and NumPy. d need not be sorted and is not modified.
func Quantile(d []time.Duration, q float64) (time.Duration, error) {
	if len(d) == 0 {
		return 0, ErrNoSamples
	}
	if math.IsNaN(q) || q < 0 || q > 1 {
		return 0, fmt.Errorf("startup: quantile %v outside [0, 1]", q)
	}
	x := slices.Clone(d)
	slices.Sort(x)
	h := float64(len(x)-1) * q
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1], nil
	}
	frac := h - float64(lo)
	return x[lo] + time.Duration(math.Round(frac*float64(x[lo+1]-x[lo]))), nil
}

// Estimate summarises a target's start-up times.
type Estimate struct {
	P50, P90 time.Duration
	// Samples is how many pods the quantiles come from: with few, P90 is
	// close to the slowest one.
	Samples int
}

// Summarize computes the median and the 90th percentile of d.
func Summarize(d []time.Duration) (Estimate, error) {
	p50, err := Quantile(d, 0.5)
	if err != nil {
		return Estimate{}, err
	}
	p90, err := Quantile(d, 0.9)
	if err != nil {
		return Estimate{}, err
	}
	return Estimate{P50: p50, P90: p90, Samples: len(d)}, nil
}
