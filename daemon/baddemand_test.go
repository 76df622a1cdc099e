package daemon

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// faultyDemand serves the synthetic trace with the steps that start at the
// given times replaced.
type faultyDemand struct {
	*synthDemand
	faults map[time.Time]float64
	// from, when set, replaces every step from then on by fault.
	from  time.Time
	fault float64
}

func (f faultyDemand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	values, err := f.synthDemand.Steps(ctx, t, from, to)
	step := time.Duration(t.Forecast.Step)
	for i := range values {
		at := from.Add(time.Duration(i) * step)
		if v, ok := f.faults[at]; ok {
			values[i] = scaler.PerMinute(v)
		}
		if !f.from.IsZero() && !at.Before(f.from) {
			values[i] = scaler.PerMinute(f.fault)
		}
	}
	return values, err
}

// faultyRig is a rig whose demand has the faults.
func faultyRig(t *testing.T, faults map[time.Time]float64) *rig {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.src.demand = faultyDemand{synthDemand: r.demand, faults: faults}
	return r
}

// loops runs one loop a minute from the evening and returns the outcomes.
func (r *rig) loops(n int) []Outcome {
	outs := make([]Outcome, n)
	for i := range outs {
		outs[i] = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
	}
	return outs
}

func (r *rig) invalidSteps(reason string) float64 {
	return testutil.ToFloat64(r.d.metrics.invalidSteps.WithLabelValues(labelsOf("a", reason)...))
}

// Absurd demand samples, in the history read at start-up (3e38, within
// float32 but beyond any traffic: it used to break the initial seasonal
// state and drop the floor) and live (1e39, beyond float32: it used to
// become +Inf in the history and fail every refit for the whole window;
// 1e11), are refused: the floors and forecasts are exactly those of a run
// where the samples were missing, each is counted by reason, and the
// refusal is reported once.
func TestAbsurdDemandIsRefusedAndCounted(t *testing.T) {
	historyStart := time.Date(2025, 3, 3, 18, 0, 0, 0, time.UTC) // evening - 7d: the first day read
	inHistory := historyStart.Add(3 * time.Hour)
	evening := historyStart.Add(7 * 24 * time.Hour)
	live1, live2 := evening, evening.Add(2*time.Minute)

	absurd := faultyRig(t, map[time.Time]float64{inHistory: 3e38, live1: 1e39, live2: 1e11})
	missing := faultyRig(t, map[time.Time]float64{inHistory: math.NaN(), live1: math.NaN(), live2: math.NaN()})
	if !absurd.evening.Equal(evening) {
		t.Fatalf("rig evening %s, test assumes %s", absurd.evening, evening)
	}
	got, want := absurd.loops(6), missing.loops(6)
	for i := range got {
		g, w := got[i], want[i]
		gd, wd := g.Decision, w.Decision
		if gd.Floor != wd.Floor || gd.Reason != wd.Reason || gd.PeakDemand != wd.PeakDemand || g.LeadForecast != w.LeadForecast {
			t.Errorf("loop %d: decision %+v forecast %+v; with the samples missing %+v %+v",
				i, g.Decision, g.LeadForecast, w.Decision, w.LeadForecast)
		}
		if g.Decision.Reason != scaler.ReasonForecast || !g.DataFresh {
			t.Errorf("loop %d: reason %s fresh %v, want forecasting on", i, g.Decision.Reason, g.DataFresh)
		}
	}
	if got[0].Decision.Floor < 6 {
		t.Errorf("evening floor %d, want the ~10 an evening needs", got[0].Decision.Floor)
	}
	for reason, n := range map[string]float64{"implausible": 2, "not_finite": 1, "negative": 0, "missing": 0} {
		if v := absurd.invalidSteps(reason); v != n {
			t.Errorf("invalid steps{reason=%q} = %v, want %v", reason, v, n)
		}
	}
	if v := missing.invalidSteps("missing"); v != 3 {
		t.Errorf("the run with missing samples counted %v missing steps, want 3", v)
	}
	// The first refusal is reported at once, in the start-up loop; the
	// later ones wait for the next report.
	reports := 0
	for i, o := range got {
		for _, err := range o.Errs {
			if strings.Contains(err.Error(), "refused") {
				reports++
				if i != 0 || !strings.Contains(err.Error(), "implausible") {
					t.Errorf("loop %d reported %v", i, err)
				}
			}
		}
	}
	if reports != 1 {
		t.Errorf("%d refusal reports over %d loops, want 1", reports, len(got))
	}
}

// Demand that turns to garbage for good (1e39 every minute) never raises
// the floor to the cluster's capacity and never lowers it: the steps are
// refused, the data goes stale and the floor in force is kept. It is
// reported once, not every loop.
func TestPersistentGarbageKeepsTheFloor(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	first := r.d.RunOnce(context.Background(), r.evening)[0]
	floor := first.Decision.Floor
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: floor, CurrentReplicas: floor}
	r.d.src.demand = faultyDemand{synthDemand: r.demand, from: r.evening, fault: 1e39}
	reports := 0
	for i := 1; i <= 30; i++ {
		o := r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
		if o.Decision.Floor != floor {
			t.Fatalf("loop %d: floor %d (%s), want the %d in force kept", i, o.Decision.Floor, o.Decision.Reason, floor)
		}
		if i > staleSteps && (o.DataFresh || o.Decision.Reason != scaler.ReasonFallback) {
			t.Errorf("loop %d: fresh %v reason %s, want stale data and the fallback", i, o.DataFresh, o.Decision.Reason)
		}
		for _, err := range o.Errs {
			if strings.Contains(err.Error(), "refused") {
				reports++
			}
		}
	}
	if reports != 1 {
		t.Errorf("%d refusal reports in 30 loops, want 1 (rate-limited)", reports)
	}
	if v := r.invalidSteps("not_finite"); v != 30 {
		t.Errorf("invalid steps{not_finite} = %v, want 30", v)
	}
}

// emptyDemand has a value for the first steps only, then nothing.
type emptyDemand struct{ until time.Time }

func (e emptyDemand) Steps(_ context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	step := time.Duration(t.Forecast.Step)
	var out []scaler.PerMinute
	for at := from; !at.Add(step).After(to); at = at.Add(step) {
		v := math.NaN()
		if at.Before(e.until) {
			v = 100 + float64(at.Minute()%3)
		}
		out = append(out, scaler.PerMinute(v))
	}
	return out, nil
}

// A refit that fails (its whole window is missing) keeps the model, and is
// counted and explained instead of passing silently.
func TestFailedRefitIsCountedAndExplained(t *testing.T) {
	tc := testTarget("a")
	tc.Forecast.Season, tc.Forecast.Season2 = 0, 0
	tc.Forecast.History = config.Duration(10 * time.Minute)
	tc.Forecast.Refit = config.Duration(5 * time.Minute)
	r := newRig(t, fixedCapacity{n: 40}, tc)
	r.d.src.demand = emptyDemand{until: r.evening}
	var failures int
	var why []string
	for i := range 20 {
		o := r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))[0]
		failures += o.RefitFailures
		for _, err := range o.Errs {
			if strings.Contains(err.Error(), "refit") {
				why = append(why, err.Error())
			}
		}
	}
	if failures == 0 || len(why) != failures {
		t.Fatalf("%d refit failures, explained by %q", failures, why)
	}
	if !strings.Contains(why[0], "no finite observation") {
		t.Errorf("refit error %q does not say why", why[0])
	}
	if v := testutil.ToFloat64(r.d.metrics.refitFails.WithLabelValues(labelsOf("a")...)); v != float64(failures) {
		t.Errorf("refit failures counter %v, want %d", v, failures)
	}
}

// The floor series of a target whose object is gone disappear, instead of
// showing the last floor for ever.
func TestDecisionSeriesClearedWithoutADecision(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	if n := testutil.CollectAndCount(r.d.metrics.floor); n != 1 {
		t.Fatalf("%d floor series after a decision, want 1", n)
	}
	r.scale.stateErr["a"] = errString("horizontalpodautoscalers \"a-hpa\" not found")
	r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))
	for name, n := range map[string]int{
		"floor_replicas":             testutil.CollectAndCount(r.d.metrics.floor),
		"floor_would_write_replicas": testutil.CollectAndCount(r.d.metrics.wouldWrite),
		"needed_replicas":            testutil.CollectAndCount(r.d.metrics.needed),
		"decision_reason":            testutil.CollectAndCount(r.d.metrics.reason),
		"forecast_demand_per_minute": testutil.CollectAndCount(r.d.metrics.forecast),
	} {
		if n != 0 {
			t.Errorf("%d prescaler_%s series after the object went away, want 0", n, name)
		}
	}
	if v := testutil.ToFloat64(r.d.metrics.errors.WithLabelValues(labelsOf("a")...)); v != 1 {
		t.Errorf("error counter %v, want 1", v)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
