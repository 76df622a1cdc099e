package backtest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prescaler/prescaler/policy"
)

// DefaultCandidates are the headroom settings the tuner replays: the
// quantiles a floor may cover, at full capacity and with 10 % margin.
func DefaultCandidates() []policy.Headroom {
	var out []policy.Headroom
	for _, u := range []float64{1, 0.9} {
		for _, q := range []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.98} {
			out = append(out, policy.Headroom{Quantile: q, Utilization: u})
		}
	}
	return out
}

// AdviceTargets are the hotter HPA targets a tuning tries for its advice:
// 0.1 and 0.2 above the HPA's own, up to 1.
func AdviceTargets(own float64) []float64 {
	var out []float64
	for _, d := range []float64{0.1, 0.2} {
		if u := math.Round((own+d)*100) / 100; u <= 1 {
			out = append(out, u)
		}
	}
	return out
}

// TuneOptions describe one tuning: a target's own recent demand and world,
// the overload it tolerates and the settings to try.
type TuneOptions struct {
	// Options is the replayed world: Demand is the target's recent
	// per-minute demand, of which the first Warmup fits the forecaster and
	// the rest is replayed; HPATargetUtilization is the HPA's own target.
	// Grid and the frontier are ignored.
	Options
	// Budget is the overloaded minutes per day the target tolerates.
	Budget float64
	// MatchHPA replaces Budget by the overloaded minutes per day of the HPA
	// alone over the same replay, at ReferenceUtilization (default: the
	// HPA's own target): "no worse than without prescaler".
	MatchHPA             bool
	ReferenceUtilization float64
	// Candidates are the headroom settings tried (default DefaultCandidates).
	Candidates []policy.Headroom
	// AdviseTargets are hotter HPA targets the floors may allow; each is
	// replayed with every candidate for the advice (none: no advice).
	AdviseTargets []float64
}

// Candidate is one replayed setting.
type Candidate struct {
	HPATargetUtilization float64         `json:"hpa_target_utilization"`
	Headroom             policy.Headroom `json:"headroom"`
	GPUHours             float64         `json:"gpu_hours"`
	OverloadedPerDay     float64         `json:"overloaded_minutes_per_day"`
	LatePercent          float64         `json:"late_percent"`
}

// Choice is the tuner's answer.
type Choice struct {
	// Chosen is the cheapest candidate at the HPA's own target that met the
	// budget, or, when none did, the one with the fewest overloaded minutes.
	Chosen Candidate `json:"chosen"`
	// Met is false when no candidate met the budget.
	Met bool `json:"budget_met"`
	// Days is the length of the replayed history.
	Days float64 `json:"days"`
	// Budget is the overloaded minutes per day the choice was held to
	// (with MatchHPA, the HPA's own over the replay).
	Budget float64 `json:"budget"`
	// HPA is the HPA alone over the replay (with MatchHPA only).
	HPA *Candidate `json:"hpa,omitempty"`
	// Advice is the hotter HPA target the floors allow: the cheapest
	// replayed (target, headroom) with no more overloaded minutes than
	// Chosen; nil when none saves GPU-hours.
	Advice     *Advice     `json:"advice,omitempty"`
	Candidates []Candidate `json:"candidates"`
}

// Advice is an HPA target the floors allow, with what it would have saved.
type Advice struct {
	Candidate
	// From is the HPA's own target; Saved the fraction of Chosen's
	// GPU-hours the advice saves over the replayed history.
	From  float64 `json:"from"`
	Saved float64 `json:"gpu_hours_saved_fraction"`
}

func (a Advice) String() string {
	return fmt.Sprintf("HPA target %.0f %% → %.0f %%: %.0f %% fewer GPU-hours at %.1f overloaded minutes per day (%s)",
		a.From*100, a.HPATargetUtilization*100, a.Saved*100, a.OverloadedPerDay, a.Headroom)
}

// Tune replays the target's recent history through the backtest's simulator
// with every candidate (one shared forecaster, the daemon's Planner) and
// picks the cheapest that met the budget.
func Tune(o TuneOptions) (Choice, error) {
	o.Options = o.Options.Defaults()
	o.FrontierUtilizations, o.Grid = nil, nil
	if len(o.Candidates) == 0 {
		o.Candidates = DefaultCandidates()
	}
	if err := o.validate(); err != nil {
		return Choice{}, fmt.Errorf("tune: %w", err)
	}
	targets := append([]float64{o.HPATargetUtilization}, o.AdviseTargets...)
	var specs []runSpec
	for _, u := range targets {
		for _, h := range o.Candidates {
			specs = append(specs, runSpec{policy: Prescaler, utilization: u, headroom: h, grid: true})
		}
	}
	if o.ReferenceUtilization == 0 {
		o.ReferenceUtilization = o.HPATargetUtilization
	}
	if o.MatchHPA {
		specs = append(specs, runSpec{policy: Reactive, utilization: o.ReferenceUtilization})
	}
	results, err := simulateAll(o.Options, specs)
	if err != nil {
		return Choice{}, fmt.Errorf("tune: %w", err)
	}
	days := float64(o.Demand.Len()-int(o.Warmup/time.Minute)) / (24 * 60)
	c := Choice{Days: days, Budget: o.Budget}
	if o.MatchHPA {
		r := results[len(results)-1]
		results, specs = results[:len(results)-1], specs[:len(specs)-1]
		c.HPA = &Candidate{HPATargetUtilization: o.ReferenceUtilization, GPUHours: r.Summary.GPUHours,
			OverloadedPerDay: float64(r.Summary.OverloadedMinutes) / days, LatePercent: r.Summary.LatePercent}
		c.Budget = c.HPA.OverloadedPerDay
	}
	for i, r := range results {
		c.Candidates = append(c.Candidates, Candidate{HPATargetUtilization: specs[i].utilization, Headroom: specs[i].headroom,
			GPUHours: r.Summary.GPUHours, OverloadedPerDay: float64(r.Summary.OverloadedMinutes) / days,
			LatePercent: r.Summary.LatePercent})
	}
	own := c.Candidates[:len(o.Candidates)]
	c.Chosen, c.Met = cheapestWithin(own, c.Budget)
	c.Advice = advise(c.Candidates[len(o.Candidates):], c.Chosen)
	return c, nil
}

func (o TuneOptions) validate() error {
	var errs []error
	if !(o.Budget >= 0) || math.IsInf(o.Budget, 0) {
		errs = append(errs, fmt.Errorf("budget %v overloaded minutes per day must be a number ≥ 0", o.Budget))
	}
	for _, h := range o.Candidates {
		if err := h.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("candidate %s: %w", h, err))
		}
	}
	for _, u := range o.AdviseTargets {
		if !(u > 0 && u <= 1) {
			errs = append(errs, fmt.Errorf("advice HPA target %v must be in (0, 1]", u))
		}
	}
	return errors.Join(append(errs, o.Options.Validate())...)
}

// cheapestWithin is the candidate with the fewest GPU-hours among those
// within the budget; when none is, the one with the fewest overloaded
// minutes (the fewest GPU-hours among equals).
func cheapestWithin(cands []Candidate, budget float64) (Candidate, bool) {
	within := slices.DeleteFunc(slices.Clone(cands), func(c Candidate) bool { return c.OverloadedPerDay > budget })
	if len(within) > 0 {
		return slices.MinFunc(within, func(a, b Candidate) int { return cmpFloat(a.GPUHours, b.GPUHours) }), true
	}
	return slices.MinFunc(cands, func(a, b Candidate) int {
		if a.OverloadedPerDay != b.OverloadedPerDay {
			return cmpFloat(a.OverloadedPerDay, b.OverloadedPerDay)
		}
		return cmpFloat(a.GPUHours, b.GPUHours)
	}), false
}

// advise is the cheapest hotter-target candidate with no more overloaded
// minutes than chosen, if it saves GPU-hours.
func advise(hotter []Candidate, chosen Candidate) *Advice {
	if len(hotter) == 0 {
		return nil
	}
	best, ok := cheapestWithin(hotter, chosen.OverloadedPerDay)
	if !ok || best.GPUHours >= chosen.GPUHours {
		return nil
	}
	return &Advice{Candidate: best, From: chosen.HPATargetUtilization, Saved: 1 - best.GPUHours/chosen.GPUHours}
}

// minutesPerDay is the length of the tuned run's days.
const minutesPerDay = 24 * 60

// evalDays is the number of evaluated days, the last possibly partial.
func evalDays(o Options) int {
	n := o.Demand.Len() - int(o.Warmup/time.Minute)
	return (n + minutesPerDay - 1) / minutesPerDay
}

// TunedDay is one day of the tuned run: the choice made before it from the
// days before it, and what the day then saw.
type TunedDay struct {
	// Day counts evaluated days from 1; Start is its first unix minute.
	Day    int    `json:"day"`
	Start  int64  `json:"start_unix_minute"`
	Choice Choice `json:"choice"`
	// Overloaded is the tuned run's overloaded minutes that day.
	Overloaded int `json:"overloaded_minutes"`
}

// tuneDaily makes the tuned run's choice for every evaluated day from the
// Fit + Window of demand just before it, days in parallel.
func tuneDaily(opts Options) ([]TunedDay, error) {
	t := opts.Tune
	days := make([]TunedDay, evalDays(opts))
	errs := make([]error, len(days))
	span := int((t.Fit + t.Window) / time.Minute)
	warm := int(opts.Warmup / time.Minute)
	runAll(len(days), func(k int) {
		start := warm + k*minutesPerDay
		o := opts
		o.Demand = opts.Demand.Slice(start-span, start)
		o.Warmup, o.Grid, o.Tune, o.Timeline, o.Progress = t.Fit, nil, nil, false, nil
		o.HPATargetUtilization = t.hpaTarget(opts)
		var c Choice
		c, errs[k] = Tune(TuneOptions{Options: o, Budget: t.Budget, MatchHPA: t.MatchHPA, ReferenceUtilization: opts.HPATargetUtilization,
			Candidates: t.Candidates, AdviseTargets: t.AdviseTargets})
		days[k] = TunedDay{Day: k + 1, Start: opts.Demand.MinuteAt(start), Choice: c}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return days, nil
}
