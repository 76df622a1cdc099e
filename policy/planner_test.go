package policy

import (
	"math"
	"testing"
	"time"

	"github.com/prescaler/prescaler/scaler"
)

// hourlySettings: 1-minute steps, an hourly season, three hours of history,
// a lead of 3 minutes and a guard of 5.
func hourlySettings() Settings {
	return Settings{Step: time.Minute, Season: time.Hour, History: 3 * time.Hour, Refit: 24 * time.Hour,
		Lead: 3 * time.Minute, Guard: 5 * time.Minute}
}

// hourlyWave is demand with an hourly wave and a little deterministic noise.
func hourlyWave(i int) float64 {
	return 100 + 40*math.Sin(2*math.Pi*float64(i)/60) + float64((i*7919)%11)
}

func feed(t *testing.T, p *Planner, from, to int, value func(int) float64) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := p.Observe(value(i)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

func TestRecalibrateCalibratesForTheNewLead(t *testing.T) {
	set := hourlySettings()
	p, err := New(set)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, p, 0, 200, hourlyWave)
	before := p.Model()
	if got, want := before.Horizon(), scaler.ForecastSteps(set.Step, set.Step, set.Lead, set.Guard); got != want {
		t.Fatalf("calibrated for %d steps, want %d", got, want)
	}
	lead := 12 * time.Minute
	fitted, err := p.Recalibrate(lead)
	if err != nil || !fitted {
		t.Fatalf("Recalibrate: fitted %v, err %v", fitted, err)
	}
	want := scaler.ForecastSteps(set.Step, set.Step, lead, set.Guard)
	if got := p.Model().Horizon(); got != want || p.Settings().Lead != lead {
		t.Fatalf("after Recalibrate(%s): calibrated for %d steps with lead %s, want %d steps", lead, got, p.Settings().Lead, want)
	}
	// The refit is on the same window: the model forecasts the same wave,
	// and keeps following new demand.
	for h := 1; h <= want; h++ {
		if a, b := before.Point(h), p.Model().Point(h); math.Abs(a-b) > 0.1*a {
			t.Errorf("h=%d: forecast %.1f before, %.1f after the refit", h, a, b)
		}
	}
	feed(t, p, 200, 230, hourlyWave)
	if got, want := p.Model().Point(1), hourlyWave(230); math.Abs(got-want) > 15 {
		t.Errorf("next step forecast %.1f after the recalibration, demand %.1f", got, want)
	}
}

func TestRecalibrateBeforeTheFirstFit(t *testing.T) {
	set := hourlySettings()
	p, err := New(set)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, p, 0, 100, hourlyWave)
	lead := 40 * time.Second
	fitted, err := p.Recalibrate(lead)
	if err != nil || fitted || p.Model() != nil {
		t.Fatalf("Recalibrate with 100 of 180 steps: fitted %v, model %v, err %v; want no fit yet", fitted, p.Model(), err)
	}
	// The history so far is kept: the first fit comes after the same 180
	// steps it would have come after, calibrated for the new lead.
	feed(t, p, 100, 179, hourlyWave)
	if p.Model() != nil {
		t.Fatal("fitted before the history window was full")
	}
	feed(t, p, 179, 180, hourlyWave)
	if p.Model() == nil {
		t.Fatal("no fit once the history window was full")
	}
	if got, want := p.Model().Horizon(), scaler.ForecastSteps(set.Step, set.Step, lead, set.Guard); got != want {
		t.Errorf("first fit calibrated for %d steps, want %d", got, want)
	}
}

func TestRecalibrateKeepsThePlannerWhenTheFitFails(t *testing.T) {
	set := hourlySettings()
	p, err := New(set)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, p, 0, 180, hourlyWave)
	model := p.Model()
	// A whole window of missing demand: no fit can be made on it, but the
	// model in hand is kept (the next scheduled refit is a day away).
	feed(t, p, 180, 360, func(int) float64 { return math.NaN() })
	if _, err := p.Recalibrate(10 * time.Minute); err == nil {
		t.Fatal("Recalibrate on a window of missing demand: no error")
	}
	if p.Model() != model || p.Settings().Lead != set.Lead {
		t.Errorf("after a failed Recalibrate: model replaced %v, lead %s; want the planner as it was", p.Model() != model, p.Settings().Lead)
	}
}
