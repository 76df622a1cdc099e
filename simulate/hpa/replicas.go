package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// PodPhase is the pod's status.phase. The zero value is PodRunning.
type PodPhase int

// Pod phases the replica calculation tells apart. Succeeded and Unknown are
// treated like Running, as upstream does.
const (
	PodRunning PodPhase = iota
	PodPending
	PodFailed
)

// PodSample is one pod selected by the scale target's selector, as the
// controller sees it on one sync: its state from the pod lister, joined with
// its value from the metrics API for one metric.
type PodSample struct {
	Name  string
	Phase PodPhase
	// Deleting is true once the pod has a deletionTimestamp.
	Deleting bool
	// Ready is the status of the pod's Ready condition.
	Ready bool
	// StartedAt is status.startTime. Zero means "long ago" (see doc.go).
	StartedAt time.Time
	// ReadySince is the lastTransitionTime of the Ready condition (when it
	// last became Ready, or NotReady). Zero means "long ago".
	ReadySince time.Time

	// HasValue is false when the metrics API returned nothing for the pod;
	// such a pod is "missing".
	HasValue bool
	// Value is the pod's metric value: the custom metric for a Pods metric,
	// the resource usage (for cpu, in cores) for a Resource metric.
	Value float64
	// SampledAt and Window are the metric point's timestamp and window
	// (metrics-server's usage window). They only matter for cpu during
	// CPUInitializationPeriod. Zero SampledAt means now.
	SampledAt time.Time
	Window    time.Duration

	// Request is the pod's request of the resource, in Value's unit; used by
	// Resource metrics only, and required (> 0) on every pod for them.
	Request float64
}

// Proposal is one metric's replica recommendation, before normalization.
type Proposal struct {
	Metric string
	// Replicas is the metric's proposal; 0 when Err is set.
	Replicas int32
	// UsageRatio is current/target on the ready pods, before missing and
	// unready pods were accounted for.
	UsageRatio float64
	// Current is the average value (Pods metrics, in the metric's unit) or
	// the utilization in percent of requests (Resource metrics) over the
	// ready pods, with upstream's integer truncation.
	Current float64
	// How the pods were grouped: Ready counted with their value; Unready
	// (Pending, or cpu not yet initialized) set to 0 on scale-up and
	// otherwise left out; Missing (no value) set to 0 on scale-up and to the
	// target on scale-down; Ignored (deleting or failed) left out.
	Ready, Unready, Missing, Ignored int
	// WithinTolerance is true when the proposal is the current replica count
	// because the ratio was within tolerance or would flip direction.
	WithinTolerance bool
	Err             error
}

// tolerances are the scale-down and scale-up tolerances of one HPA.
type tolerances struct{ down, up float64 }

// within reports whether ratio is close enough to 1 to leave replicas alone;
// the band is closed, so with a 0.1 tolerance a ratio of exactly 1.1 holds.
func (t tolerances) within(ratio float64) bool {
	return 1-t.down <= ratio && ratio <= 1+t.up
}

// calcParams are the controller settings the replica calculation needs.
type calcParams struct {
	now                   time.Time
	current               int32
	tol                   tolerances
	cpuInitPeriod         time.Duration
	initialReadinessDelay time.Duration
}

// milli converts a value to integer milli-units the way
// resource.Quantity.MilliValue does (rounding up), after snapping values that
// are a float rounding error away from an exact milli (0.1 × 1000 is
// 100.00000000000001, which must stay 100).
func milli(v float64) int64 {
	x := v * 1000
	if r := math.Round(x); math.Abs(x-r) <= 1e-9*math.Max(1, math.Abs(x)) {
		return int64(r)
	}
	return int64(math.Ceil(x))
}

// entry is a pod's value in milli-units, indexed into the samples.
type entry struct {
	pod   int
	value int64
}

// grouping is groupPods' outcome.
type grouping struct {
	metrics                   []entry // ready pods with a value
	unready, missing          []int
	ignored                   int
	readyCount                int
	resourceRequestMissingPod string
}

// groupPods sorts pods as upstream's groupPods does: deleting or failed pods
// are ignored, Pending pods are unready, pods without a value are missing,
// and, for cpu only, pods whose readiness says their usage is not yet
// representative are unready. Everything else is ready.
func groupPods(samples []PodSample, cpu bool, p calcParams) grouping {
	var g grouping
	for i, s := range samples {
		switch {
		case s.Deleting || s.Phase == PodFailed:
			g.ignored++
			continue
		case s.Phase == PodPending:
			g.unready = append(g.unready, i)
			continue
		case !s.HasValue:
			g.missing = append(g.missing, i)
			continue
		case cpu && cpuUnready(s, p):
			g.unready = append(g.unready, i)
			continue
		}
		g.metrics = append(g.metrics, entry{pod: i, value: milli(s.Value)})
		g.readyCount++
	}
	return g
}

// cpuUnready is upstream's cpu readiness rule. During the initialization
// period after start, a sample counts only if the pod is ready and the
// sample's window began after the pod became ready. After it, only a pod that
// is unready and has never been ready (its Ready condition last changed
// within InitialReadinessDelay of start) is left out.
func cpuUnready(s PodSample, p calcParams) bool {
	if !s.StartedAt.IsZero() && s.StartedAt.Add(p.cpuInitPeriod).After(p.now) {
		sampled := s.SampledAt
		if sampled.IsZero() {
			sampled = p.now
		}
		return !s.Ready || sampled.Before(s.ReadySince.Add(s.Window))
	}
	return !s.Ready && s.StartedAt.Add(p.initialReadinessDelay).After(s.ReadySince)
}

// ratioFunc turns the values of a set of pods into a usage ratio
// (current/target) and the current value for reporting.
type ratioFunc func(metrics []entry) (ratio, current float64, err error)

// podsMetricReplicas is upstream's GetMetricReplicas/calcPlainMetricReplicas
// for a Pods metric with an AverageValue target.
func podsMetricReplicas(m PodsMetricSource, samples []PodSample, p calcParams) Proposal {
	target := milli(m.TargetAverageValue)
	ratio := func(metrics []entry) (float64, float64, error) {
		var total int64
		for _, e := range metrics {
			total += e.value
		}
		avg := total / int64(len(metrics)) // integer milli-units, as upstream
		return float64(avg) / float64(target), float64(avg) / 1000, nil
	}
	// On a scale-down a missing pod is taken to sit exactly at the target.
	missingDown := func(int) int64 { return target }
	return replicasFor(m.Name, samples, false, ratio, missingDown, p)
}

// resourceUtilizationReplicas is upstream's GetResourceReplicas for a
// Resource metric with an AverageUtilization target.
func resourceUtilizationReplicas(m ResourceMetricSource, samples []PodSample, p calcParams) Proposal {
	requests := make([]int64, len(samples))
	for i, s := range samples {
		requests[i] = milli(s.Request)
		if requests[i] <= 0 {
			// Upstream needs a request on every selected pod, ready or not.
			return Proposal{Metric: m.Name, Err: fmt.Errorf("missing request for %s in pod %q", m.Name, s.Name)}
		}
	}
	target := int64(m.TargetAverageUtilization)
	ratio := func(metrics []entry) (float64, float64, error) {
		var usage, request int64
		for _, e := range metrics {
			usage += e.value
			request += requests[e.pod]
		}
		if request == 0 {
			return 0, 0, errors.New("no metrics returned matched known pods")
		}
		// Utilization is an integer percent (truncated) before the ratio.
		util := min(usage*100/request, math.MaxInt32)
		return float64(util) / float64(target), float64(util), nil
	}
	// On a scale-down a missing pod is taken to use 100 % of its request, or
	// the target when the target is above 100 %.
	fallback := max(100, target)
	missingDown := func(i int) int64 { return requests[i] * fallback / 100 }
	return replicasFor(m.Name, samples, m.Name == "cpu", ratio, missingDown, p)
}

// replicasFor is the replica calculation shared by both metric kinds.
//
// With every pod ready and reporting, desired = ceil(ratio × ready pods) unless
// the ratio is within tolerance. Otherwise the ratio is recomputed after
// filling in the gaps pessimistically for the direction of the change:
// missing pods count 0 on a scale-up and the target on a scale-down, unready
// pods count 0 on a scale-up and are left out otherwise. If the recomputed
// ratio is within tolerance, or points the other way, nothing changes;
// otherwise desired = ceil(new ratio × pods counted).
func replicasFor(name string, samples []PodSample, cpu bool, ratioOf ratioFunc, missingDown func(int) int64, p calcParams) Proposal {
	out := Proposal{Metric: name}
	if len(samples) == 0 {
		out.Err = errors.New("no pods returned by selector while calculating replica count")
		return out
	}
	g := groupPods(samples, cpu, p)
	out.Ready, out.Unready, out.Missing, out.Ignored = g.readyCount, len(g.unready), len(g.missing), g.ignored
	if len(g.metrics) == 0 {
		out.Err = errors.New("did not receive metrics for targeted pods (pods might be unready)")
		return out
	}
	ratio, current, err := ratioOf(g.metrics)
	if err != nil {
		out.Err = err
		return out
	}
	out.UsageRatio, out.Current = ratio, current

	scaleUpWithUnready := len(g.unready) > 0 && ratio > 1
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if p.tol.within(ratio) {
			out.Replicas, out.WithinTolerance = p.current, true
			return out
		}
		out.Replicas = ceilReplicas(ratio * float64(g.readyCount))
		return out
	}

	metrics := g.metrics
	if len(g.missing) > 0 {
		switch {
		case ratio < 1:
			for _, i := range g.missing {
				metrics = append(metrics, entry{pod: i, value: missingDown(i)})
			}
		case ratio > 1:
			for _, i := range g.missing {
				metrics = append(metrics, entry{pod: i, value: 0})
			}
		}
	}
	if scaleUpWithUnready {
		for _, i := range g.unready {
			metrics = append(metrics, entry{pod: i, value: 0})
		}
	}
	newRatio, _, err := ratioOf(metrics)
	if err != nil {
		out.Err = err
		return out
	}
	if p.tol.within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		out.Replicas, out.WithinTolerance = p.current, true
		return out
	}
	n := ceilReplicas(newRatio * float64(len(metrics)))
	if (newRatio < 1 && n > p.current) || (newRatio > 1 && n < p.current) {
		// More pods counted than the spec's replicas can turn a scale-down
		// into an increase (and vice versa); upstream holds instead.
		out.Replicas, out.WithinTolerance = p.current, true
		return out
	}
	out.Replicas = n
	return out
}

// ceilReplicas rounds a replica count up, saturating at MaxInt32.
func ceilReplicas(x float64) int32 {
	c := math.Ceil(x)
	if c >= math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(c)
}
