package backtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/trace"
)

// synthetic returns days of the built-in synthetic demand.
func synthetic(t *testing.T, days int) trace.Series {
	t.Helper()
	o := trace.DefaultSynthOptions()
	o.Days = days
	s, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func smallOptions(demand trace.Series) Options {
	return Options{
		Demand: demand, Warmup: 7 * 24 * time.Hour, ReplicaCapacity: 60, Startup: 3 * time.Minute,
		GPUs: 40, MaxReplicas: 40, QueueTarget: 5, Timeline: true,
		FrontierUtilizations: []float64{0.5, 0.7, 0.9},
	}
}

func floorsOf(r *Result, policy string) []int32 {
	var out []int32
	for _, row := range r.Policy(policy).Timeline {
		out = append(out, row.Floor)
	}
	return out
}

// The prescaler policy sees only the past: cutting the trace at minute T
// leaves every floor before T unchanged.
func TestFloorsAreCausal(t *testing.T) {
	full := synthetic(t, 9)
	cut := full
	cutAt := 8*24*60 + 17*60 + 13 // an evening, mid-ramp
	cut.Values = append([]float64(nil), full.Values[:cutAt]...)
	// Later demand doubled: must not matter either.
	changed := full
	changed.Values = append([]float64(nil), full.Values...)
	for i := cutAt; i < len(changed.Values); i++ {
		changed.Values[i] *= 2
	}
	a, err := Run(smallOptions(full))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(smallOptions(cut))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Run(smallOptions(changed))
	if err != nil {
		t.Fatal(err)
	}
	fa, fb, fc := floorsOf(a, Prescaler), floorsOf(b, Prescaler), floorsOf(c, Prescaler)
	evalCut := cutAt - 7*24*60
	if len(fb) != evalCut {
		t.Fatalf("cut run has %d minutes, want %d", len(fb), evalCut)
	}
	for i := 0; i < evalCut; i++ {
		if fa[i] != fb[i] || fa[i] != fc[i] {
			t.Fatalf("minute %d: floors %d (full), %d (cut), %d (future doubled)", i, fa[i], fb[i], fc[i])
		}
	}
}

func TestPoliciesAndComparisons(t *testing.T) {
	r, err := Run(smallOptions(synthetic(t, 9)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Reactive, Prescaler, Yesterday, Oracle} {
		p := r.Policy(name)
		if p == nil {
			t.Fatalf("no %s policy", name)
		}
		if p.Summary.Minutes != 2*24*60 || len(p.Timeline) != 2*24*60 {
			t.Errorf("%s: %d minutes, %d rows; want two days", name, p.Summary.Minutes, len(p.Timeline))
		}
		if p.Summary.PendingPodMinutes != 0 {
			t.Errorf("%s: %v pending pod-minutes with GPUs for every replica", name, p.Summary.PendingPodMinutes)
		}
	}
	oracle := r.Policy(Oracle).Summary
	if oracle.OverloadedMinutes != 0 {
		t.Errorf("the oracle overloaded %d minutes", oracle.OverloadedMinutes)
	}
	for _, p := range r.Policies {
		if p.Summary.GPUHours < oracle.GPUHours {
			t.Errorf("%s used %.1f GPU-hours, below the oracle's lower bound %.1f", p.Policy, p.Summary.GPUHours, oracle.GPUHours)
		}
	}
	if len(r.FrontierRuns) != 3 || len(r.Frontier) == 0 {
		t.Errorf("%d frontier runs, %d on the frontier", len(r.FrontierRuns), len(r.Frontier))
	}
	reasons := r.Policy(Prescaler).Reasons
	if len(reasons) == 0 || reasons[0].Reason != "forecast" {
		t.Errorf("prescaler reasons %v, want forecast first", reasons)
	}
}

// With too few GPUs the floor stops at capacity and names it; no policy
// that respects capacity leaves pods Pending because of prescaler.
func TestFloorStopsAtGPUCapacity(t *testing.T) {
	o := smallOptions(synthetic(t, 8))
	o.GPUs, o.MaxReplicas = 8, 40
	o.FrontierUtilizations = []float64{}
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Policy(Prescaler)
	capped := false
	for _, reason := range p.Reasons {
		capped = capped || reason.Reason == "gpu_capacity"
	}
	if !capped {
		t.Errorf("reasons %v: the floor never met the GPU capacity", p.Reasons)
	}
	for _, row := range p.Timeline {
		if row.Floor > 8 {
			t.Fatalf("minute %d: floor %d above the 8 replicas the GPUs hold", row.UnixMinute, row.Floor)
		}
	}
}

func TestOptionsErrorsNameTheOption(t *testing.T) {
	base := smallOptions(synthetic(t, 8))
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"capacity", func(o *Options) { o.ReplicaCapacity = -1 }, "replica capacity -1"},
		{"warmup", func(o *Options) { o.Warmup = 30 * 24 * time.Hour }, "warmup 720h0m0s"},
		{"gpus", func(o *Options) { o.GPUs = 0 }, "gpus 0"},
		{"utilization", func(o *Options) { o.HPATargetUtilization = 1.5 }, "target utilization 1.5"},
		{"quantile", func(o *Options) { o.Quantile = 1 }, "quantile 1"},
		{"jitter", func(o *Options) { o.StartupJitter = time.Hour }, "startup jitter 1h0m0s"},
		{"max replicas", func(o *Options) { o.MaxReplicas = 0 }, "max replicas 0"},
		{"step", func(o *Options) { o.Step = 90 * time.Second }, "step 1m30s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, err := Run(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestMissingDemandIsNotAnError(t *testing.T) {
	o := smallOptions(synthetic(t, 8))
	o.FrontierUtilizations = []float64{}
	for i := 7*24*60 + 100; i < 7*24*60+160; i++ {
		o.Demand.Values[i] = math.NaN()
	}
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
}

// Grid runs share one forecaster per worker, fed in lockstep: a grid run
// at the main setting must give exactly the main prescaler run, and the
// perfect-forecast run (the policy fed the real demand) never overloads
// more than prescaler at the same setting on this smooth trace.
func TestGridSharesTheForecaster(t *testing.T) {
	opts := smallOptions(synthetic(t, 9))
	opts.Grid = []GridPoint{
		{HPATargetUtilization: 0.9, Headroom: policy.Headroom{Quantile: 0.5, Utilization: 1}},
		{HPATargetUtilization: 0.7, Headroom: policy.Headroom{Quantile: 0.9, Utilization: 1}},
		{HPATargetUtilization: 0.9, Headroom: policy.Headroom{Quantile: 0.95, Utilization: 0.8}},
	}
	r, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GridRuns) != 3 || len(r.GridComparisons) != 3 || len(r.GridFrontier) == 0 {
		t.Fatalf("%d grid runs, %d comparisons, %d frontier points; want 3, 3, >0", len(r.GridRuns), len(r.GridComparisons), len(r.GridFrontier))
	}
	main, same := r.Policy(Prescaler).Summary, r.GridRuns[1].Summary
	if main != same {
		t.Errorf("grid run at the main setting %+v differs from the main run %+v", same, main)
	}
	if lo, hi := r.GridRuns[0].Summary, r.GridRuns[2].Summary; !(lo.GPUHours < hi.GPUHours) {
		t.Errorf("quantile 0.5 at full capacity costs %.1f GPU-h, quantile 0.95 at 0.8 %.1f: want fewer", lo.GPUHours, hi.GPUHours)
	}
	if p := r.Policy(Perfect).Summary; p.OverloadedMinutes > main.OverloadedMinutes {
		t.Errorf("perfect forecast overloaded %d minutes, prescaler %d", p.OverloadedMinutes, main.OverloadedMinutes)
	}
	if c := r.Cheapest; c != nil && c.OverloadedMinutes > r.Policy(Reactive).Summary.OverloadedMinutes {
		t.Errorf("cheapest %+v overloads more than the HPA alone", c)
	}
}

// The tuned run's choices come from the past only: cutting the trace, or
// doubling the demand after the cut, leaves every choice made before the cut
// unchanged; and each choice is the cheapest replayed candidate within the
// budget.
func TestTunedChoicesAreCausal(t *testing.T) {
	full := synthetic(t, 7)
	cutAt := 5*24*60 + 13*60
	cut := full
	cut.Values = append([]float64(nil), full.Values[:cutAt]...)
	changed := full
	changed.Values = append([]float64(nil), full.Values...)
	for i := cutAt; i < len(changed.Values); i++ {
		changed.Values[i] *= 2
	}
	run := func(demand trace.Series) *Result {
		t.Helper()
		o := smallOptions(demand)
		o.Warmup, o.FrontierUtilizations, o.Timeline = 3*24*time.Hour, []float64{0.7}, false
		o.Tune = &TuneSettings{Budget: 2, Fit: 2 * 24 * time.Hour, Window: 24 * time.Hour,
			Candidates: []policy.Headroom{{Quantile: 0.5, Utilization: 1}, {Quantile: 0.9, Utilization: 1}, {Quantile: 0.95, Utilization: 0.9}}}
		r, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := run(full), run(cut), run(changed)
	if len(a.Tuning) != 4 || len(b.Tuning) != 3 {
		t.Fatalf("%d and %d tuned days, want 4 and 3", len(a.Tuning), len(b.Tuning))
	}
	for d := 0; d < 3; d++ { // days 1–3 start before the cut (day 3 starts at 3 days + 2 days = minute 7200)
		if a.Tuning[d].Choice.Chosen != b.Tuning[d].Choice.Chosen || a.Tuning[d].Choice.Chosen != c.Tuning[d].Choice.Chosen {
			t.Errorf("day %d: choices %+v (full), %+v (cut), %+v (future doubled)", d+1,
				a.Tuning[d].Choice.Chosen, b.Tuning[d].Choice.Chosen, c.Tuning[d].Choice.Chosen)
		}
	}
	for _, d := range a.Tuning {
		ch := d.Choice
		for _, cand := range ch.Candidates {
			if ch.Met && cand.OverloadedPerDay <= ch.Budget && cand.GPUHours < ch.Chosen.GPUHours {
				t.Errorf("day %d: %+v within the budget is cheaper than the choice %+v", d.Day, cand, ch.Chosen)
			}
		}
	}
	if a.Policy(Tuned) == nil || len(a.Policy(Tuned).DailyOverloaded) != 4 {
		t.Error("no tuned run with four days of overloaded minutes")
	}
}
