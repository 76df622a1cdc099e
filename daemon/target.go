package daemon

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// defaultLeadTime is the lead time of a target with `leadTime: auto` before
// enough of its pods were seen starting to measure one.
const defaultLeadTime = 3 * time.Minute

// staleSteps: demand whose newest valid step is older than this many steps
// is stale, and a stale forecast never lowers a floor.
const staleSteps = 3

// Outcome is what one loop did for one target: the numbers behind the
// decision, for metrics, logs and Events.
type Outcome struct {
	Target   string
	Decision scaler.Decision
	// Wrote is true when the decision was applied (active mode).
	Wrote bool
	// Shadow is true in shadow mode: Decision is what would have been written.
	Shadow bool
	// Skipped names why nothing was decided: "disabled", "opted_out".
	Skipped  string
	LeadTime time.Duration
	// Capacity is the replicas the cluster can run; -1 when unknown.
	Capacity int32
	// Forecast is the demand forecast the decision read.
	Forecast []scaler.Step
	// DataFresh is false when demand could not be read or is stale.
	DataFresh bool
	// Errs are the problems of this loop; the decision still happened with
	// safe fallbacks unless the object could not be read.
	Errs []error
	// WriteErr is set when the decision could not be written.
	WriteErr error
	// Step is the forecast step.
	Step time.Duration

	// Demand is the newest observed step's demand per minute (NaN: none yet).
	Demand float64
	// Signals are the serving signals read this loop.
	Signals Signals
	// ReplicaCapacity is the per-replica capacity the decision used, and
	// CapacityLearned whether it was learned (false: configured or fallback).
	ReplicaCapacity float64
	CapacityLearned bool
	// Health is the forecast's recent record, Demoted the state after this
	// loop and DemotionChange the sentence of a change made this loop.
	Health         scaler.ForecastHealth
	Demoted        bool
	DemotionChange string
	// SLOBreach: latency above its objective now; ForecastShort: and the
	// floor below the HPA's own count (the forecast fell short).
	SLOBreach, ForecastShort bool
	// LeadForecast is the forecast one lead time ahead with the configured
	// interval (zero when there is no model).
	LeadForecast predictor.Forecast
	// Conflicts counts writes refused with 409 Conflict and retried.
	Conflicts int
	// Replicas is the scale target's replica count (what the HPA set).
	Replicas int32
}

// stepMinutes converts per-step demand to per-minute.
func (o Outcome) stepMinutes() float64 { return o.Step.Minutes() }

// target is the daemon's memory of one target between loops.
type target struct {
	cfg  config.Target
	roll *predictor.Rolling
	// next is the start of the next demand step to read.
	next time.Time
	// lastValid is the end of the newest step that had data, lastDemand its
	// demand per minute.
	lastValid  time.Time
	lastDemand float64
	restored   bool

	health *health
}

// configuredLead is the lead time the forecaster is built for: the
// configured one, or the default until start-up times are measured.
func configuredLead(cfg config.Target) time.Duration {
	if cfg.LeadTime.Auto {
		return defaultLeadTime
	}
	return cfg.LeadTime.Duration
}

func newTarget(cfg config.Target) (*target, error) {
	step := time.Duration(cfg.Forecast.Step)
	lead := configuredLead(cfg)
	refitEvery := max(1, int(time.Duration(cfg.Forecast.Refit)/step))
	roll, err := predictor.NewRolling(predictor.RollingOptions{
		Options: predictor.Options{
			Period:  int(time.Duration(cfg.Forecast.Season) / step),
			Period2: int(time.Duration(cfg.Forecast.Season2) / step),
			// Calibrated through the usual decision: one step elapsed.
			Horizon: scaler.ForecastSteps(step, step, lead, time.Duration(cfg.ScaleDown.Stabilization)),
			Clip:    5,
		},
		Window:     int(time.Duration(cfg.Forecast.History) / step),
		RefitEvery: refitEvery,
		FirstRefit: refitPhase(cfg.Name, refitEvery),
	})
	if err != nil {
		return nil, fmt.Errorf("target %s: forecaster: %w", cfg.Name, err)
	}
	h, err := newHealth(cfg)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Name, err)
	}
	return &target{cfg: cfg, roll: roll, lastDemand: math.NaN(), health: h}, nil
}

// refitPhase spreads the targets' refits over the refit period by a hash of
// their name, so a thousand targets do not all refit in the same loop.
func refitPhase(name string, every int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return 1 + int(h.Sum32()%uint32(every))
}

// sources bundles what a reconcile reads and writes.
type sources struct {
	demand   DemandSource
	capacity CapacitySource
	startup  StartupSource
	scale    Scaler
	signals  SignalSource
	lag      time.Duration
}

// reconcile runs one loop for the target at now: read the object, feed the
// forecaster the new demand, decide, write (or not, in shadow mode).
func (t *target) reconcile(ctx context.Context, src sources, now time.Time) Outcome {
	out := Outcome{Target: t.cfg.Name, Capacity: -1, Step: time.Duration(t.cfg.Forecast.Step)}
	state, err := src.scale.State(ctx, &t.cfg)
	if err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("read %s: %w", t.cfg.Object(), err))
		return out
	}
	switch {
	case state.OptedOut:
		out.Skipped = "opted_out"
		if !t.restored {
			if _, err := src.scale.Restore(ctx, &t.cfg); err != nil {
				out.Errs = append(out.Errs, fmt.Errorf("restore %s: %w", t.cfg.Object(), err))
			} else {
				t.restored = true
			}
		}
		return out
	case state.Disabled:
		out.Skipped = "disabled"
		return out
	}
	t.restored = false
	out.Replicas = state.CurrentReplicas
	var newSteps int
	out.DataFresh, newSteps = t.feed(ctx, src.demand, now, src.lag, &out)
	out.Demand = t.lastDemand
	t.observeServing(ctx, src.signals, state, newSteps, now, &out)
	t.judge(ctx, src.scale, &out)
	out.LeadTime = t.leadTime(ctx, src.startup, &out)
	out.Capacity = t.capacity(ctx, src.capacity, state, &out)
	out.ReplicaCapacity, out.CapacityLearned = t.replicaCapacity()
	in := t.inputs(state, out)
	if out.DataFresh {
		// The forecast starts at the end of the last step read.
		in.Elapsed = now.Sub(t.next)
	}
	in.Forecast, in.DataOK = t.forecast(in, out.DataFresh)
	out.Forecast = in.Forecast
	out.LeadForecast = t.leadForecast(in)
	out.Decision = scaler.Decide(in)
	if t.cfg.Mode == config.ModeShadow {
		out.Shadow = true
		return out
	}
	rep, err := src.scale.Apply(ctx, &t.cfg, out.Decision)
	out.Conflicts = rep.Conflicts
	if err != nil {
		out.WriteErr = fmt.Errorf("write %s: %w", t.cfg.Object(), err)
		return out
	}
	out.Wrote = true
	return out
}

// feed reads the demand steps completed since the last loop (the whole
// history on the first) and gives them to the forecaster and to the
// forecast's scorer. It reports whether the data is fresh enough to lower a
// floor, and how many steps came in.
func (t *target) feed(ctx context.Context, demand DemandSource, now time.Time, lag time.Duration, out *Outcome) (fresh bool, steps int) {
	step := time.Duration(t.cfg.Forecast.Step)
	to := now.Add(-lag).Truncate(step)
	if t.next.IsZero() {
		t.next = to.Add(-time.Duration(t.cfg.Forecast.History))
	}
	if to.After(t.next) {
		values, err := demand.Steps(ctx, &t.cfg, t.next, to)
		if err != nil {
			out.Errs = append(out.Errs, fmt.Errorf("demand: %w", err))
			return false, 0
		}
		for _, v := range values {
			t.observe(v, out)
		}
		steps = len(values)
	}
	fresh = t.roll.Model() != nil && !t.lastValid.IsZero() && now.Sub(t.lastValid) <= staleSteps*step+lag
	return fresh, steps
}

// observe feeds one demand step to the forecaster, then scores the forecast
// made one lead time ago for it and hands over the forecast for the step one
// lead time ahead.
func (t *target) observe(v float64, out *Outcome) {
	step := time.Duration(t.cfg.Forecast.Step)
	if _, err := t.roll.Observe(v); err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("demand: %w", err))
		v = math.NaN()
	}
	ahead := math.NaN()
	if m := t.roll.Model(); m != nil {
		ahead = m.Point(t.health.errors.Horizon())
	}
	t.health.errors.Observe(v, ahead)
	t.next = t.next.Add(step)
	if !math.IsNaN(v) {
		t.lastValid = t.next
		t.lastDemand = v / step.Minutes()
	}
}

// leadTime is the configured lead time, or the measured start-up p90.
func (t *target) leadTime(ctx context.Context, startup StartupSource, out *Outcome) time.Duration {
	if !t.cfg.LeadTime.Auto {
		return t.cfg.LeadTime.Duration
	}
	d, ok, err := startup.StartupP90(ctx, &t.cfg)
	if err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("start-up time: %w", err))
	}
	if err != nil || !ok || d <= 0 {
		return defaultLeadTime
	}
	return d
}

// capacity is how many replicas can run. When it cannot be read, prescaler
// does not raise beyond what runs now: it never asks for pods that may not
// schedule.
func (t *target) capacity(ctx context.Context, cs CapacitySource, state ScaleState, out *Outcome) int32 {
	n, err := cs.CapacityReplicas(ctx, &t.cfg)
	if err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("capacity: %w", err))
		return max(state.CurrentReplicas, state.CurrentFloor)
	}
	return n
}

// inputs maps the config, the object's state and the loop's readings onto
// the decision core's inputs (the forecast is added by forecast).
func (t *target) inputs(state ScaleState, out Outcome) scaler.Inputs {
	userMin := max(state.UserMinReplicas, t.cfg.Bounds.MinReplicas)
	maxReplicas := state.MaxReplicas
	if b := t.cfg.Bounds.MaxReplicas; b > 0 && (maxReplicas == 0 || b < maxReplicas) {
		maxReplicas = b
	}
	return scaler.Inputs{
		StepLength:         time.Duration(t.cfg.Forecast.Step),
		Lead:               out.LeadTime,
		Guard:              time.Duration(t.cfg.ScaleDown.Stabilization),
		ReplicaCapacity:    out.ReplicaCapacity,
		UserMinReplicas:    userMin,
		MaxReplicas:        maxReplicas,
		CurrentFloor:       state.CurrentFloor,
		CurrentReplicas:    state.CurrentReplicas,
		CapacityReplicas:   out.Capacity,
		MaxStepDownPercent: t.cfg.ScaleDown.MaxStepPercent,
		UserBehavior:       state.UserBehavior,
		Demoted:            out.Demoted,
	}
}

// forecast reads the model's mean and configured quantile for every step the
// decision needs. Without a fresh model the decision falls back to keeping
// the floor in force.
func (t *target) forecast(in scaler.Inputs, fresh bool) ([]scaler.Step, bool) {
	model := t.roll.Model()
	if model == nil {
		return nil, false
	}
	steps := make([]scaler.Step, scaler.ForecastSteps(in.StepLength, in.Elapsed, in.Lead, in.Guard))
	for h := range steps {
		q, err := model.Quantile(h+1, t.cfg.Forecast.Quantile)
		if err != nil {
			return nil, false
		}
		steps[h] = scaler.Step{Mean: model.Point(h + 1), Upper: q}
	}
	return steps, fresh
}

// leadForecast is the forecast one lead time ahead with the configured
// central interval, for the metrics (zero without a model).
func (t *target) leadForecast(in scaler.Inputs) predictor.Forecast {
	model := t.roll.Model()
	if model == nil {
		return predictor.Forecast{}
	}
	h := max(1, int(math.Ceil(float64(in.Lead)/float64(in.StepLength))))
	f, err := model.ForecastAt(h, t.cfg.Forecast.Interval)
	if err != nil {
		return predictor.Forecast{}
	}
	return f
}
