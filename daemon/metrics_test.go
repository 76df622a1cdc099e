package daemon

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// labelsOf returns the per-target label values of testTarget(name)'s series
// (target, namespace, horizontalpodautoscaler, scaledObject), then extra.
func labelsOf(name string, extra ...string) []string {
	return append([]string{name, "default", name + "-hpa", ""}, extra...)
}

// targetSeries returns, by metric name, the labels of every series of
// target that reg exports, with empty labels left out as Prometheus leaves
// them out.
func targetSeries(t *testing.T, reg prometheus.Gatherer, target string) map[string][]map[string]string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" {
					labels[l.GetName()] = l.GetValue()
				}
			}
			if labels["target"] == target {
				out[f.GetName()] = append(out[f.GetName()], labels)
			}
		}
	}
	return out
}

// requireObjectLabels fails unless every series of target carries want's
// labels, and no other label naming an object.
func requireObjectLabels(t *testing.T, reg prometheus.Gatherer, target string, want map[string]string) {
	t.Helper()
	series := targetSeries(t, reg, target)
	// About every per-target family: the shadow counters come only with
	// shadow mode, the demand gauge only once a step was read.
	if len(series) < 30 {
		t.Errorf("target %s has series in %d families, want every per-target one", target, len(series))
	}
	for name, all := range series {
		for _, got := range all {
			picked := map[string]string{}
			for _, k := range []string{"namespace", "horizontalpodautoscaler", "scaledObject"} {
				if v, ok := got[k]; ok {
					picked[k] = v
				}
			}
			if !maps.Equal(picked, want) {
				t.Errorf("%s%v: object labels %v, want %v", name, got, picked, want)
			}
		}
	}
}

// Every per-target series names the object its target writes with
// kube-state-metrics' labels for an HPA and KEDA's for a ScaledObject, so
// that it joins their series on (namespace, horizontalpodautoscaler) or
// (namespace, scaledObject).
func TestSeriesNameTheObjectTheTargetWrites(t *testing.T) {
	keda := testTarget("k")
	keda.Namespace, keda.HPA, keda.ScaledObject = "ml", "", "k-so"
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"), keda)
	for _, out := range r.d.RunOnce(context.Background(), r.evening) {
		if len(out.Errs) > 0 || out.Decision.Reason == "" {
			t.Fatalf("target %s: errors %v, decision %+v", out.Target, out.Errs, out.Decision)
		}
	}
	requireObjectLabels(t, r.reg, "a", map[string]string{"namespace": "default", "horizontalpodautoscaler": "a-hpa"})
	requireObjectLabels(t, r.reg, "k", map[string]string{"namespace": "ml", "scaledObject": "k-so"})
}

// A target that leaves the config takes every one of its series with it; a
// target re-pointed at another object takes those labelled with the old
// one, and its next loop exports them under the new one.
func TestSeriesFollowTheConfig(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	r.d.RunOnce(context.Background(), r.evening)
	moved := testTarget("a")
	moved.HPA = "a-hpa-v2"
	if err := r.d.Update(context.Background(), testConfig(moved)); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"a", "b"} {
		if left := targetSeries(t, r.reg, target); len(left) > 0 {
			t.Errorf("target %s still has series after the change: %v", target, slices.Sorted(maps.Keys(left)))
		}
	}
	r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))
	requireObjectLabels(t, r.reg, "a", map[string]string{"namespace": "default", "horizontalpodautoscaler": "a-hpa-v2"})
}

// lint runs promlint on reg's metrics. scaledObject is linted as the
// snake_case name it would have if it were not KEDA's (see
// labelScaledObject), so that any other camelCase label still fails.
func lint(t *testing.T, reg prometheus.Gatherer) []promlint.Problem {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	snake := "scaled_object"
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == labelScaledObject {
					l.Name = &snake
				}
			}
		}
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// Every loop of a decided, written target observes the four phases; a
// first loop's fit (the backfill) takes longer than nothing.
func TestPhaseDurationsAreObserved(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.Phases.Fit <= 0 || out.Phases.Read < 0 || out.Phases.Decide <= 0 || out.Phases.Write < 0 || out.Fits == 0 {
		t.Errorf("phases %+v after a first loop with %d fits", out.Phases, out.Fits)
	}
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "prescaler_target_phase_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if want := map[string]uint64{phaseRead: 1, phaseFit: 1, phaseDecide: 1, phaseWrite: 1}; !maps.Equal(counts, want) {
		t.Errorf("phase observations %v, want one of each", counts)
	}
	if problems := lint(t, r.reg); len(problems) > 0 {
		t.Errorf("metric lint: %v", problems)
	}
}
