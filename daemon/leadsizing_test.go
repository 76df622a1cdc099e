package daemon

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// measuredStartup plays the start-up recorder: p90 is what it measures, and
// ok is false while it has seen too few pods (p90 zero).
type measuredStartup struct {
	mu  sync.Mutex
	p90 time.Duration
}

func (m *measuredStartup) set(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p90 = d
}

func (m *measuredStartup) StartupP90(context.Context, *config.Target) (time.Duration, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.p90, m.p90 > 0, nil
}

// autoLeadRig is a rig whose target has leadTime: auto, with the start-up
// measurement in the test's hands.
func autoLeadRig(t *testing.T, tc config.Target) (*rig, *measuredStartup) {
	t.Helper()
	tc.LeadTime = config.LeadTime{Auto: true}
	r := newRig(t, fixedCapacity{n: 200}, tc)
	startup := &measuredStartup{}
	r.d.src.startup = startup
	return r, startup
}

// wantSizing checks what an outcome says the lead sized: the scorer's
// distance is the sized lead in whole steps, and the calibration reaches
// through the sized lead plus calibrationBand (one step when measured, none
// for the default), the guard and one elapsed step.
func wantSizing(t *testing.T, what string, out Outcome, sized, calibrationBand time.Duration) {
	t.Helper()
	step, guard := out.Step, time.Duration(config.DefaultTarget().ScaleDown.Stabilization)
	want := Sizing{Lead: sized, ScoringSteps: int(math.Ceil(float64(sized) / float64(step))),
		CalibrationSteps: scaler.ForecastSteps(step, step, sized+calibrationBand, guard)}
	if out.Sizing != want {
		t.Errorf("%s: sizing %+v, want %+v", what, out.Sizing, want)
	}
}

// Until start-up times are measured, the scorer and the calibration are
// sized for the 3-minute default; the first measurement sizes them for the
// measured lead at once (one refit); a move within one step leaves them,
// a larger one sizes them again. The decision's forecast always covers the
// lead measured now, and never reads past the calibrated horizon.
func TestMeasuredLeadSizesTheScorerAndTheCalibration(t *testing.T) {
	r, startup := autoLeadRig(t, testTarget("a"))
	now := r.evening
	loop := func() Outcome {
		t.Helper()
		out := r.d.RunOnce(context.Background(), now)[0]
		now = now.Add(time.Minute)
		if len(out.Errs) > 0 {
			t.Fatalf("loop errors: %v", out.Errs)
		}
		if got, want := len(out.Forecast), scaler.ForecastSteps(out.Step, 0, out.LeadTime, 5*time.Minute); got != want {
			t.Errorf("lead %s: the decision read %d forecast steps, want %d", out.LeadTime, got, want)
		}
		if len(out.Forecast) > out.Sizing.CalibrationSteps {
			t.Errorf("lead %s: the decision read %d steps, past the %d calibrated", out.LeadTime, len(out.Forecast), out.Sizing.CalibrationSteps)
		}
		return out
	}

	out := loop()
	if out.LeadTime != config.DefaultLeadTime || out.Fits != 1 {
		t.Fatalf("before any measurement: lead %s, %d fits", out.LeadTime, out.Fits)
	}
	wantSizing(t, "default", out, config.DefaultLeadTime, 0)

	startup.set(7 * time.Minute)
	out = loop()
	if out.LeadTime != 7*time.Minute || out.Fits != 1 {
		t.Errorf("first measurement: lead %s, %d fits; want 7m and the refit for it", out.LeadTime, out.Fits)
	}
	wantSizing(t, "first measurement", out, 7*time.Minute, time.Minute)

	startup.set(7*time.Minute + 50*time.Second) // within one step: kept
	out = loop()
	if out.LeadTime != 7*time.Minute+50*time.Second || out.Fits != 0 {
		t.Errorf("a move within a step: lead %s, %d fits; want the new lead and no refit", out.LeadTime, out.Fits)
	}
	wantSizing(t, "a move within a step", out, 7*time.Minute, time.Minute)

	startup.set(8*time.Minute + 10*time.Second) // more than one step: sized again
	out = loop()
	if out.Fits != 1 {
		t.Errorf("a move of more than a step: %d fits, want the refit for it", out.Fits)
	}
	wantSizing(t, "a move of more than a step", out, 8*time.Minute+10*time.Second, time.Minute)

	startup.set(2 * time.Minute) // shorter: sized down too
	out = loop()
	wantSizing(t, "a shorter lead", out, 2*time.Minute, time.Minute)
}

// A Deployment that started no pod for longer than the measurement window
// keeps the lead time last measured, not the default.
func TestLastMeasuredLeadHoldsWithoutNewPodStarts(t *testing.T) {
	r, startup := autoLeadRig(t, testTarget("a"))
	startup.set(9 * time.Minute)
	r.d.RunOnce(context.Background(), r.evening)
	startup.set(0) // the window holds too few pod starts now
	out := r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]
	if out.LeadTime != 9*time.Minute || out.Fits != 0 {
		t.Errorf("no pod starts in the window: lead %s, %d fits; want the last measured 9m, nothing resized", out.LeadTime, out.Fits)
	}
	wantSizing(t, "no pod starts in the window", out, 9*time.Minute, time.Minute)
}

// When the lead is measured before the first loop, the first fit is
// calibrated for it: no second fit.
func TestFirstFitIsCalibratedForAMeasuredLead(t *testing.T) {
	r, startup := autoLeadRig(t, testTarget("a"))
	startup.set(5 * time.Minute)
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.Fits != 1 || len(out.Errs) > 0 {
		t.Fatalf("first loop: %d fits, errors %v; want one fit", out.Fits, out.Errs)
	}
	wantSizing(t, "first loop", out, 5*time.Minute, time.Minute)
}

// Resizing the scorer restarts its record, since it scored another
// distance, but keeps the demotion state until half the window is scored
// again; a config change of the window keeps the measured size.
func TestLeadResizeRestartsTheRecordAndHoldsTheDemotion(t *testing.T) {
	tc := testTarget("a")
	tc.Demotion.Window = config.Duration(time.Hour)
	r, startup := autoLeadRig(t, tc)
	r.d.src.demand = &erraticDemand{synthDemand: r.demand, from: r.evening, factor: 4}
	startup.set(3 * time.Minute)
	now := r.evening
	var out Outcome
	for range 45 {
		out = r.d.RunOnce(context.Background(), now)[0]
		now = now.Add(time.Minute)
	}
	if !out.Demoted || out.Health.Scored < 30 {
		t.Fatalf("erratic demand: demoted %v with %d scored steps", out.Demoted, out.Health.Scored)
	}
	startup.set(10 * time.Minute)
	out = r.d.RunOnce(context.Background(), now)[0]
	now = now.Add(time.Minute)
	if !out.Demoted || out.Health.Scored != 0 || out.Sizing.ScoringSteps != 10 {
		t.Errorf("after the resize: demoted %v, %d scored, scoring %d steps ahead; want the state held, the record restarted at 10",
			out.Demoted, out.Health.Scored, out.Sizing.ScoringSteps)
	}
	// The first forecast the new scorer holds, made 10 steps ahead when
	// the resize loop's step came in, is scored 10 steps later.
	for range 9 {
		out = r.d.RunOnce(context.Background(), now)[0]
		now = now.Add(time.Minute)
	}
	if out.Health.Scored != 0 {
		t.Errorf("%d steps scored 9 steps after the resize, want none yet", out.Health.Scored)
	}
	out = r.d.RunOnce(context.Background(), now)[0]
	if out.Health.Scored != 1 {
		t.Errorf("%d steps scored 10 steps after the resize, want 1", out.Health.Scored)
	}

	tc.LeadTime = config.LeadTime{Auto: true}
	tc.Demotion.Window = config.Duration(2 * time.Hour)
	if err := r.d.Update(context.Background(), testConfig(tc)); err != nil {
		t.Fatal(err)
	}
	if got := r.d.targets["a"].health.errors.Horizon(); got != 10 {
		t.Errorf("after a window change the scorer scores %d steps ahead, want the measured 10", got)
	}
}

// A recalibration whose fit fails keeps the model in hand, is counted and
// explained, and is tried again one forecast.refit later, not every loop.
func TestFailedRecalibrationKeepsTheModelAndRetriesAfterARefitPeriod(t *testing.T) {
	tc := testTarget("a")
	tc.Forecast.Season = config.Duration(time.Hour)
	tc.Forecast.History = config.Duration(3 * time.Hour)
	tc.Forecast.Refit = config.Duration(time.Hour)
	r, startup := autoLeadRig(t, tc)
	// Demand stops arriving at 18:00: after three hours the whole history
	// window is missing and no fit can be made on it.
	r.d.src.demand = cutDemand{DemandSource: r.demand, after: r.evening}
	now := r.evening
	if out := r.d.RunOnce(context.Background(), now)[0]; out.Fits != 1 {
		t.Fatalf("first loop: %d fits", out.Fits)
	}
	for range 3*60 + 5 {
		now = now.Add(time.Minute)
		r.d.RunOnce(context.Background(), now)
	}
	startup.set(6 * time.Minute)
	failures := func(out Outcome) int {
		n := 0
		for _, err := range out.Errs {
			if strings.Contains(err.Error(), "calibrating the intervals for the measured lead 6m0s failed") {
				n++
			}
		}
		return n
	}
	now = now.Add(time.Minute)
	out := r.d.RunOnce(context.Background(), now)[0]
	if failures(out) != 1 || out.RefitFailures == 0 || out.Sizing.CalibrationSteps != 10 {
		t.Fatalf("recalibration on a missing window: errors %v, %d refit failures, calibrated for %d steps; want it explained, counted, the 3-minute model kept",
			out.Errs, out.RefitFailures, out.Sizing.CalibrationSteps)
	}
	if out.Sizing.ScoringSteps != 6 {
		t.Errorf("the scorer scores %d steps ahead, want the measured 6 (it needs no fit)", out.Sizing.ScoringSteps)
	}
	tries := 1
	for range 60 {
		now = now.Add(time.Minute)
		tries += failures(r.d.RunOnce(context.Background(), now)[0])
	}
	if tries != 2 {
		t.Errorf("%d recalibrations tried over a refit period and a step, want 2: one a refit period after the first", tries)
	}
}

// cutDemand is a demand source whose data ends at after: later steps are
// missing.
type cutDemand struct {
	DemandSource
	after time.Time
}

func (c cutDemand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	values, err := c.DemandSource.Steps(ctx, t, from, to)
	step := time.Duration(t.Forecast.Step)
	for i := range values {
		if from.Add(time.Duration(i+1) * step).After(c.after) {
			values[i] = scaler.PerMinute(math.NaN())
		}
	}
	return values, err
}
