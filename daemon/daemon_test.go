package daemon

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/trace"
)

// synthDemand serves the built-in synthetic trace by time: step values are
// the means of their minutes, as a demand query's rate per minute.
type synthDemand struct {
	minutes trace.Series
	mu      sync.Mutex
	err     error
	calls   []time.Time // from of every call
}

func (s *synthDemand) Steps(_ context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	s.mu.Lock()
	s.calls = append(s.calls, from)
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	step := time.Duration(t.Forecast.Step)
	var out []scaler.PerMinute
	for at := from; !at.Add(step).After(to); at = at.Add(step) {
		sum := 0.0
		for m := at; m.Before(at.Add(step)); m = m.Add(time.Minute) {
			i := int(m.Unix()/60 - s.minutes.Start)
			if i < 0 || i >= s.minutes.Len() {
				return out, nil // no data yet beyond the trace
			}
			sum += s.minutes.Values[i]
		}
		out = append(out, scaler.PerMinute(sum/step.Minutes()))
	}
	return out, nil
}

type fixedCapacity struct {
	n   int32
	err error
}

func (f fixedCapacity) CapacityReplicas(context.Context, *config.Target) (int32, error) {
	return f.n, f.err
}

type fixedStartup struct{ d time.Duration }

func (f fixedStartup) StartupP90(context.Context, *config.Target) (time.Duration, bool, error) {
	return f.d, f.d > 0, nil
}

// fakeScaler records what the daemon writes.
type fakeScaler struct {
	mu       sync.Mutex
	state    map[string]ScaleState
	stateErr map[string]error
	applied  map[string][]scaler.Decision
	restored map[string]int
	// restoredObjects are the objects restored, in order.
	restoredObjects []config.ObjectRef
	events          map[string][]string
}

func newFakeScaler() *fakeScaler {
	return &fakeScaler{state: map[string]ScaleState{}, stateErr: map[string]error{},
		applied: map[string][]scaler.Decision{}, restored: map[string]int{}, events: map[string][]string{}}
}

func (f *fakeScaler) State(_ context.Context, t *config.Target) (ScaleState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stateErr[t.Name]; err != nil {
		return ScaleState{}, err
	}
	if s, ok := f.state[t.Name]; ok {
		return s, nil
	}
	return ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 1, CurrentReplicas: 2}, nil
}

func (f *fakeScaler) Apply(_ context.Context, t *config.Target, d scaler.Decision) (WriteReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Like the writer: a write that changes the floor reports it.
	prev := int32(1)
	if a := f.applied[t.Name]; len(a) > 0 {
		prev = a[len(a)-1].Floor
	}
	f.applied[t.Name] = append(f.applied[t.Name], d)
	return WriteReport{Changed: d.Floor != prev, PreviousFloor: prev, Floor: d.Floor}, nil
}

func (f *fakeScaler) Restore(_ context.Context, t *config.Target) (WriteReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restored[t.Name]++
	f.restoredObjects = append(f.restoredObjects, t.Object())
	return WriteReport{}, nil
}

// announced are the Events recorded through Announce, "Reason: message".
func (f *fakeScaler) Announce(_ context.Context, t *config.Target, _ bool, reason, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[t.Name] = append(f.events[t.Name], reason+": "+message)
	return nil
}

func testTarget(name string) config.Target {
	t := config.DefaultTarget()
	t.Name, t.Namespace, t.HPA = name, "default", name+"-hpa"
	t.Queries.Demand = "demand"
	t.ReplicaCapacity = config.ReplicaCapacity{Value: 50}
	t.Forecast.History = config.Duration(7 * 24 * time.Hour)
	t.LeadTime = config.LeadTime{Duration: 3 * time.Minute}
	return t
}

func testConfig(targets ...config.Target) *config.Config {
	c := config.Default()
	c.Targets = targets
	return c
}

type rig struct {
	d       *Daemon
	demand  *synthDemand
	scale   *fakeScaler
	reg     *prometheus.Registry
	start   time.Time // first minute of the trace
	evening time.Time // a weekday 18:00, eight days in
}

func newRig(t *testing.T, capacity CapacitySource, targets ...config.Target) *rig {
	t.Helper()
	minutes, err := trace.Synthesize(trace.DefaultSynthOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{demand: &synthDemand{minutes: minutes}, scale: newFakeScaler(), reg: prometheus.NewRegistry(),
		start: time.Unix(minutes.Start*60, 0).UTC()}
	r.evening = r.start.Add(7*24*time.Hour + 18*time.Hour) // Monday of week two
	r.d, err = New(testConfig(targets...), Options{Demand: r.demand, Capacity: capacity, Startup: fixedStartup{},
		Scaler: r.scale, Metrics: NewMetrics(r.reg)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFirstLoopBackfillsAndWritesAForecastFloor(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if len(out.Errs) > 0 || !out.Wrote || !out.DataFresh {
		t.Fatalf("outcome %+v", out)
	}
	if got, want := r.demand.calls[0], r.evening.Add(-7*24*time.Hour); !got.Equal(want) {
		t.Errorf("first read from %s, want the history window start %s", got, want)
	}
	d := out.Decision
	if d.Reason != scaler.ReasonForecast || d.Floor < 2 {
		t.Errorf("decision %+v: want a forecast floor above the user's 1", d)
	}
	// Demand near 18:00 on a weekday is about 300 × 1.6 req/min: with 50
	// per replica that is about ten replicas.
	if d.Floor < 6 || d.Floor > 16 {
		t.Errorf("floor %d for an evening demand of ~480 req/min at 50 per replica", d.Floor)
	}
	// The next loop reads only the new steps.
	r.d.RunOnce(context.Background(), r.evening.Add(2*time.Minute))
	if got := r.demand.calls[1]; !got.Equal(r.evening) {
		t.Errorf("second read from %s, want %s", got, r.evening)
	}
}

func TestShadowModeWritesNothing(t *testing.T) {
	tc := testTarget("a")
	tc.Mode = config.ModeShadow
	r := newRig(t, fixedCapacity{n: 40}, tc)
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if !out.Shadow || out.Wrote || len(r.scale.applied["a"]) != 0 {
		t.Fatalf("shadow outcome %+v, applied %v", out, r.scale.applied["a"])
	}
	if v := testutil.ToFloat64(r.d.metrics.wouldWrite.WithLabelValues(labelsOf("a")...)); v != float64(out.Decision.Floor) {
		t.Errorf("would-write metric %v, decision %d", v, out.Decision.Floor)
	}
}

func TestStaleDemandNeverLowersTheFloor(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 30, CurrentReplicas: 30}
	r.demand.err = errors.New("prometheus down")
	out := r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]
	if out.DataFresh || out.Decision.Reason != scaler.ReasonFallback || out.Decision.Floor != 30 {
		t.Fatalf("with demand unreadable: fresh %v decision %+v, want the floor 30 kept", out.DataFresh, out.Decision)
	}
	if len(out.Errs) == 0 || !strings.Contains(out.Errs[0].Error(), "prometheus down") {
		t.Errorf("errors %v do not say why", out.Errs)
	}
}

func TestUnknownCapacityNeverRaisesBeyondWhatRuns(t *testing.T) {
	r := newRig(t, fixedCapacity{err: errors.New("informers not synced")}, testTarget("a"))
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 2, CurrentReplicas: 3}
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.Capacity != 3 || out.Decision.Floor > 3 || out.Decision.Reason != scaler.ReasonGPUCapacity {
		t.Fatalf("capacity %d decision %+v: want a floor held at the 3 running replicas", out.Capacity, out.Decision)
	}
}

func TestDisabledAndOptedOutTargets(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("off"), testTarget("out"), testTarget("sts"))
	r.scale.state["off"] = ScaleState{Disabled: true}
	r.scale.state["out"] = ScaleState{OptedOut: true}
	r.scale.state["sts"] = ScaleState{Unsupported: errors.New("default/sts scales StatefulSet db")}
	var last []Outcome
	for i := 0; i < 3; i++ {
		last = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))
	}
	if len(r.scale.applied) != 0 {
		t.Errorf("wrote to skipped targets: %v", r.scale.applied)
	}
	if r.scale.restored["out"] != 1 || r.scale.restored["sts"] != 1 || r.scale.restored["off"] != 0 {
		t.Errorf("restores %v: want one each for the opted-out target and the one scaling a StatefulSet", r.scale.restored)
	}
	sts := last[2]
	if sts.Skipped != "unsupported_scale_target" || len(sts.Errs) != 1 || !strings.Contains(sts.Errs[0].Error(), "StatefulSet db") {
		t.Errorf("the target scaling a StatefulSet: skipped %q, errors %v", sts.Skipped, sts.Errs)
	}
}

func TestOneTargetFailingDoesNotStopAnother(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("broken"), testTarget("fine"))
	r.scale.stateErr["broken"] = errors.New("forbidden")
	outs := r.d.RunOnce(context.Background(), r.evening)
	if outs[0].Target != "broken" || len(outs[0].Errs) == 0 || outs[0].Wrote {
		t.Errorf("broken target outcome %+v", outs[0])
	}
	if outs[1].Target != "fine" || !outs[1].Wrote {
		t.Errorf("fine target outcome %+v", outs[1])
	}
	if v := testutil.ToFloat64(r.d.metrics.errors.WithLabelValues(labelsOf("broken")...)); v != 1 {
		t.Errorf("error counter %v, want 1", v)
	}
}

func TestTargetLeavingTheConfigIsRestored(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	r.d.RunOnce(context.Background(), r.evening)
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"))); err != nil {
		t.Fatal(err)
	}
	// A standby applies config changes too: the write waits for the loop,
	// which runs on the leader alone.
	if len(r.scale.restored) != 0 {
		t.Errorf("restores %v before the next loop, want none", r.scale.restored)
	}
	if n := testutil.CollectAndCount(r.d.metrics.floor); n != 1 {
		t.Errorf("%d floor series after b left, want 1", n)
	}
	// a keeps its forecaster: the next loop reads only new steps.
	calls := len(r.demand.calls)
	r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))
	if r.scale.restored["b"] != 1 || r.scale.restored["a"] != 0 {
		t.Errorf("restores %v: want b restored once", r.scale.restored)
	}
	if got := r.demand.calls[calls]; !got.Equal(r.evening) {
		t.Errorf("a re-read its history after an unrelated config change (from %s)", got)
	}
}

func TestMetricsExposition(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if v := testutil.ToFloat64(r.d.metrics.floor.WithLabelValues(labelsOf("a")...)); v != float64(out.Decision.Floor) {
		t.Errorf("floor metric %v, decision %d", v, out.Decision.Floor)
	}
	if v := testutil.ToFloat64(r.d.metrics.reason.WithLabelValues(labelsOf("a", "forecast")...)); v != 1 {
		t.Errorf("reason{forecast} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.d.metrics.leadTime.WithLabelValues(labelsOf("a")...)); v != 180 {
		t.Errorf("lead time %v s, want 180", v)
	}
	if v := testutil.ToFloat64(r.d.metrics.forecast.WithLabelValues(labelsOf("a", "quantile_peak")...)); math.Abs(v-float64(out.Decision.PeakDemand)) > 1e-9 {
		t.Errorf("forecast metric %v, decision peak %v", v, out.Decision.PeakDemand)
	}
	if problems := lint(t, r.reg); len(problems) > 0 {
		t.Errorf("metric lint: %v", problems)
	}
}

func TestReadiness(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	if err := r.d.Ready(time.Now()); err == nil {
		t.Error("ready before any loop")
	}
	r.d.RunOnce(context.Background(), r.evening)
	if err := r.d.Ready(time.Now()); err != nil {
		t.Errorf("not ready right after a loop: %v", err)
	}
	if err := r.d.Ready(time.Now().Add(time.Minute)); err == nil {
		t.Error("ready although the last loop is four intervals old")
	}
}

// blockingCapacity holds every capacity call until release is closed,
// whatever the call's context says: a loop stuck where no deadline reaches.
type blockingCapacity struct{ release chan struct{} }

func (b blockingCapacity) CapacityReplicas(context.Context, *config.Target) (int32, error) {
	<-b.release
	return 40, nil
}

func TestLivenessFailsOnlyWhileALoopIsStuck(t *testing.T) {
	capacity := blockingCapacity{release: make(chan struct{})}
	r := newRig(t, capacity, testTarget("a"))
	if err := r.d.Live(time.Now()); err != nil {
		t.Errorf("not live before any loop: %v", err)
	}
	done := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(done)
		r.d.RunOnce(context.Background(), r.evening)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for r.d.loopBegan.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	interval := time.Duration(r.d.Config().Interval)
	if err := r.d.Live(began.Add(interval)); err != nil {
		t.Errorf("a loop one interval old is not stuck: %v", err)
	}
	if err := r.d.Live(began.Add(6 * interval)); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("a loop six intervals old: %v, want stuck", err)
	}
	close(capacity.release)
	<-done
	if err := r.d.Live(began.Add(6 * interval)); err != nil {
		t.Errorf("not live after the loop ended: %v", err)
	}
}
