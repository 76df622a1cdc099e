package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// staleSteps: demand whose newest valid step is older than this many steps
// is stale, and a stale forecast never lowers a floor.
const staleSteps = 3

// Outcome is what one loop did for one target: the numbers behind the
// decision, for metrics, logs and Events.
type Outcome struct {
	Target string
	// Object is the HPA or ScaledObject the target writes to.
	Object   config.ObjectRef
	Decision scaler.Decision
	// Wrote is true when the decision was applied (active mode).
	Wrote bool
	// Phases is how long this loop spent reading, fitting, deciding and
	// writing.
	Phases PhaseTimes
	// Changed is true when that write changed the object (Wrote is true
	// also when the object already held the decision); PreviousFloor and
	// WrittenFloor are its minReplicas before and after.
	Changed                     bool
	PreviousFloor, WrittenFloor int32
	// Shadow is true in shadow mode: Decision is what would have been written.
	Shadow bool
	// Standby is true on a standby replica (Daemon.SetStandby): Decision
	// is what the leader would write; nothing was.
	Standby bool
	// ShadowCounts is, in shadow mode, what the floors would have changed
	// for the step read this loop (nil: nothing to count this loop).
	ShadowCounts *ShadowCounts
	// Skipped names why nothing was decided: "disabled", "opted_out",
	// "unsupported_scale_target", SkipWarming.
	Skipped  string
	LeadTime time.Duration
	// Sizing is what the lead time sized: the demotion scorer and the
	// forecaster's interval calibration.
	Sizing Sizing
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
	// Fits counts the forecaster's fits this loop; RefitFailures its
	// refits that failed (the model in hand is kept; Errs says why).
	Fits          int
	RefitFailures int
	// InvalidSteps counts the demand steps of this loop the forecaster
	// could not use, by reason (see invalidReasons); each counts as missing.
	InvalidSteps map[string]int
	// Replicas is the scale target's replica count (what the HPA set).
	Replicas int32
	// Headroom is the headroom the decision used; Tuned the tuning behind
	// it (nil: the configured headroom), OverloadBudget the budget.
	Headroom       policy.Headroom
	Tuned          *TuneResult
	OverloadBudget time.Duration
	// Nodes is what the decision knew of the target's nodes.
	Nodes NodeState
	// Placeholders is the placeholder pods kept after this loop, and
	// PlaceholderGPUSeconds the GPU-seconds those kept since the last loop
	// asked for.
	Placeholders          int32
	PlaceholderGPUSeconds float64

	// backfillFit is the fit time of a backfill handed over this loop: it
	// ran beside the loop, so it counts in Phases.Fit but not in the
	// loop's time that Phases.Read is the rest of.
	backfillFit time.Duration
}

// stepMinutes converts per-step demand to per-minute.
func (o Outcome) stepMinutes() float64 { return o.Step.Minutes() }

// PhaseTimes is how long one target's loop spent in each phase. Fit is the
// forecaster's work on the steps read (updates and refits; those of a
// backfill handed over included, though it ran beside the loop); Read is
// the rest of the loop's time before the decision: the object, Prometheus,
// the collectors.
type PhaseTimes struct {
	Read, Fit, Decide, Write time.Duration
}

// target is the daemon's memory of one target between loops.
type target struct {
	cfg  config.Target
	plan *policy.Planner
	// next is the start of the next demand step to read.
	next time.Time
	// lastValid is the end of the newest step that had data, lastDemand its
	// demand per minute.
	lastValid  time.Time
	lastDemand float64
	restored   bool
	// backfill is the backfill bringing the target up to date beside the
	// loop, or finished and not yet handed over (nil: none).
	backfill *backfill

	health *health
	tune   tuning
	// refused reports the demand steps the forecaster refused, at most
	// once per refusedReportEvery.
	refused refusedReport
	// shadow is the counterfactual ledger of a shadow target.
	shadow shadowLedger
	// lastNodeLead is the last measured node lead time (0: none yet).
	lastNodeLead time.Duration
	// placeholders is the placeholder pods last kept (placeholdersKept:
	// and written successfully), placeholdersSince when that began, and
	// placeholderGPUs the GPUs one of them holds.
	placeholders      int32
	placeholdersKept  bool
	placeholdersSince time.Time
	placeholderGPUs   int64
}

func newTarget(cfg config.Target) (*target, error) {
	plan, err := policy.New(cfg.PolicySettings())
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Name, err)
	}
	h, err := newHealth(cfg)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Name, err)
	}
	return &target{cfg: cfg, plan: plan, lastDemand: math.NaN(), health: h}, nil
}

// sources bundles what a reconcile reads and writes.
type sources struct {
	demand   DemandSource
	capacity CapacitySource
	startup  StartupSource
	scale    Scaler
	signals  SignalSource
	// nodes is nil for a fixed pool of nodes; placeholders nil when no
	// target may keep placeholders.
	nodes        NodeSource
	placeholders PlaceholderSink
	lag          time.Duration
	// tunes queues headroom replays (nil: no tuner).
	tunes chan<- tuneJob
	// standby: decide, write nothing (Daemon.SetStandby).
	standby bool
}

// errStandby is what a standby's scaler answers a write: the loop never
// asks it for one.
var errStandby = errors.New("a standby replica writes nothing")

// standbyScaler reads through Scaler and writes nothing: Announce records
// no Event, Apply and Restore refuse.
type standbyScaler struct{ Scaler }

func (standbyScaler) Apply(context.Context, *config.Target, scaler.Decision) (WriteReport, error) {
	return WriteReport{}, errStandby
}

func (standbyScaler) Restore(context.Context, *config.Target) (WriteReport, error) {
	return WriteReport{}, errStandby
}

func (standbyScaler) Announce(context.Context, *config.Target, bool, string, string) error {
	return nil
}

// reconcile runs one loop for the target at now: read the object, feed the
// forecaster the new demand, decide, write (or not, in shadow mode).
func (t *target) reconcile(ctx context.Context, src sources, now time.Time) Outcome {
	out := Outcome{Target: t.cfg.Name, Object: t.cfg.Object(), Capacity: -1, Step: time.Duration(t.cfg.Forecast.Step)}
	// A finished backfill is handed over whatever the object says, so a
	// disabled or opted-out target does not read its history again.
	adopted := t.handOver(&out)
	began := time.Now()
	state, err := src.scale.State(ctx, &t.cfg)
	if err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("read %s: %w", t.cfg.Object(), err))
		out.Phases.Read = time.Since(began)
		return out
	}
	switch {
	case state.OptedOut || state.Unsupported != nil:
		out.Skipped = "opted_out"
		if state.Unsupported != nil {
			out.Skipped = "unsupported_scale_target"
			out.Errs = append(out.Errs, state.Unsupported)
		}
		if src.standby {
			out.Standby = true
			out.Phases.Read = time.Since(began)
			return out
		}
		t.keepPlaceholders(ctx, src.placeholders, 0, now, &out)
		if !t.restored {
			if _, err := src.scale.Restore(ctx, &t.cfg); err != nil {
				out.Errs = append(out.Errs, fmt.Errorf("restore %s: %w", t.cfg.Object(), err))
			} else {
				t.restored = true
			}
		}
		out.Phases.Read = time.Since(began)
		return out
	case state.Disabled:
		out.Skipped = "disabled"
		out.Phases.Read = time.Since(began)
		return out
	}
	t.restored = false
	out.Replicas = state.CurrentReplicas
	// The lead time comes first: the demand fed below is scored, and a
	// first fit calibrated, for it.
	lead, measured := t.leadTime(ctx, src.startup, &out)
	out.LeadTime = lead
	t.sizeForLead(lead, measured, &out)
	var newSteps int
	out.DataFresh, newSteps = t.feed(ctx, src.demand, now, src.lag, &out)
	newSteps += adopted
	out.Demand = t.lastDemand
	t.observeServing(ctx, src.signals, state, newSteps, now, &out)
	t.judge(ctx, src.scale, &out)
	out.Capacity = t.capacity(ctx, src.capacity, state, &out)
	out.Nodes = t.nodes(ctx, src.nodes, t.maxReplicas(state), out.Capacity, &out)
	out.ReplicaCapacity, out.CapacityLearned = t.replicaCapacity()
	decideBegan := time.Now()
	out.Phases.Read = decideBegan.Sub(began) - out.Phases.Fit
	out.Phases.Fit += out.backfillFit
	sit := t.situation(state, out, src.placeholders != nil)
	sit.Headroom, out.Tuned = t.headroom()
	out.Headroom, out.OverloadBudget = sit.Headroom, time.Duration(t.cfg.SLO.OverloadBudget)
	t.reportTuning(ctx, src.scale, &out)
	t.maybeTune(src.tunes, sit, state, now)
	if out.DataFresh {
		// The forecast starts at the end of the last step read.
		sit.Elapsed = now.Sub(t.next)
	}
	plan := t.plan.Plan(sit)
	out.Decision, out.Forecast = plan.Decision, plan.Forecast
	out.LeadForecast = t.plan.LeadForecast(out.LeadTime, t.cfg.Forecast.Interval)
	out.Sizing = t.sizing()
	writeBegan := time.Now()
	out.Phases.Decide = writeBegan.Sub(decideBegan)
	if src.standby {
		// The leader counts a shadow target's ledger; counted twice, its
		// counters would add up to double over the replicas.
		out.Standby = true
		return out
	}
	if t.cfg.Mode == config.ModeShadow {
		out.Shadow = true
		t.countShadow(now, state, newSteps, &out)
		return out
	}
	// Fewer placeholders go first, so the real pods the floor asks for
	// find their room free; more go after the floor, so they never hold
	// room the floor's pods need.
	fewer := out.Decision.Placeholders < t.placeholders
	if fewer {
		t.keepPlaceholders(ctx, src.placeholders, out.Decision.Placeholders, now, &out)
	}
	rep, err := src.scale.Apply(ctx, &t.cfg, out.Decision)
	out.Conflicts = rep.Conflicts
	if err != nil {
		out.WriteErr = fmt.Errorf("write %s: %w", t.cfg.Object(), err)
		out.Phases.Write = time.Since(writeBegan)
		return out
	}
	out.Wrote = true
	out.Changed, out.PreviousFloor, out.WrittenFloor = rep.Changed, rep.PreviousFloor, rep.Floor
	if !fewer {
		t.keepPlaceholders(ctx, src.placeholders, out.Decision.Placeholders, now, &out)
	}
	out.Phases.Write = time.Since(writeBegan)
	return out
}

// feed reads the demand steps completed since the last loop and gives them
// to the forecaster and to the forecast's scorer; a target's history comes
// from a backfill (handOver) instead. It reports whether the data is fresh
// enough to lower a floor, and how many steps came in.
func (t *target) feed(ctx context.Context, demand DemandSource, now time.Time, lag time.Duration, out *Outcome) (fresh bool, steps int) {
	step := time.Duration(t.cfg.Forecast.Step)
	to := now.Add(-lag).Truncate(step)
	if t.next.IsZero() {
		return false, 0 // no history yet: the next loop begins its backfill
	}
	if to.After(t.next) {
		values, err := demand.Steps(ctx, &t.cfg, t.next, to)
		if err != nil {
			out.Errs = append(out.Errs, fmt.Errorf("demand: %w", err))
			return false, 0
		}
		t.observeSteps(values, now, out)
		steps = len(values)
	}
	fresh = t.plan.Model() != nil && !t.lastValid.IsZero() && now.Sub(t.lastValid) <= staleSteps*step+lag
	return fresh, steps
}

// observeSteps feeds the values of the steps from t.next on, and counts
// and reports the ones the forecaster refused.
func (t *target) observeSteps(values []float64, now time.Time, out *Outcome) {
	before := t.refusedSoFar()
	fitBegan := time.Now()
	for _, v := range values {
		t.observe(v, out)
	}
	out.Phases.Fit += time.Since(fitBegan)
	t.countRefused(before, out)
	if err := t.refused.due(now); err != nil {
		out.Errs = append(out.Errs, err)
	}
}

// observe feeds one demand step to the forecaster, then scores the forecast
// made one lead time ago for it and hands over the forecast for the step one
// lead time ahead.
func (t *target) observe(v float64, out *Outcome) {
	step := time.Duration(t.cfg.Forecast.Step)
	roll := t.plan.Rolling()
	failedRefits := roll.FailedRefits
	if math.IsNaN(v) {
		out.countInvalid(reasonMissing, 1)
	}
	fitted, err := t.plan.Observe(v)
	if err != nil {
		t.refused.latest = err
		v = math.NaN()
	}
	if fitted {
		out.Fits++
	}
	if roll.FailedRefits > failedRefits {
		out.RefitFailures++
		out.Errs = append(out.Errs, fmt.Errorf("forecast: refit on the last %s failed, the model in hand is kept: %w",
			config.FormatDuration(time.Duration(t.cfg.Forecast.History)), roll.LastError))
	}
	ahead := math.NaN()
	if m := t.plan.Model(); m != nil {
		ahead = m.Point(t.health.errors.Horizon())
	}
	t.health.errors.Observe(v, ahead)
	t.next = t.next.Add(step)
	if !math.IsNaN(v) {
		t.lastValid = t.next
		t.lastDemand = v / step.Minutes()
	}
}

// leadTime is the configured lead time, or the start-up p90 measured now
// (measured true). Until a first measurement it is the default; when the
// window later holds too few pod starts, or cannot be read, the last
// measurement holds: a Deployment that created no pod for hours still
// starts them as slowly as it did.
func (t *target) leadTime(ctx context.Context, startup StartupSource, out *Outcome) (lead time.Duration, measured bool) {
	if !t.cfg.LeadTime.Auto {
		return t.cfg.LeadTime.Duration, false
	}
	d, ok, err := startup.StartupP90(ctx, &t.cfg)
	if err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("start-up time: %w", err))
	}
	if err == nil && ok && d > 0 {
		t.health.sizing.latest = d
		return d, true
	}
	if last := t.health.sizing.latest; last > 0 {
		return last, false
	}
	return config.DefaultLeadTime, false
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

// situation maps the config, the object's state and the loop's readings
// onto what the decision knows besides the forecast.
func (t *target) situation(state ScaleState, out Outcome, canKeepPlaceholders bool) policy.Situation {
	userMin := max(state.UserMinReplicas, t.cfg.Bounds.MinReplicas)
	sit := policy.Situation{
		Lead:             out.LeadTime,
		ReplicaCapacity:  out.ReplicaCapacity,
		Fresh:            out.DataFresh,
		Demoted:          out.Demoted,
		UserMinReplicas:  userMin,
		MaxReplicas:      t.maxReplicas(state),
		CurrentFloor:     state.CurrentFloor,
		CurrentReplicas:  state.CurrentReplicas,
		CapacityReplicas: out.Capacity,
		UserBehavior:     state.UserBehavior,
		Backlog:          out.Signals.QueueDepth,
	}
	if out.Nodes.provisioning() {
		sit.ProvisionableReplicas = out.Nodes.Provisionable
		sit.NodeLead = out.Nodes.Lead
		sit.Placeholders = canKeepPlaceholders && t.cfg.Nodes.Placeholders.Enabled
	}
	return sit
}

// maxReplicas is the highest floor: the HPA's maxReplicas, or
// bounds.maxReplicas when lower.
func (t *target) maxReplicas(state ScaleState) int32 {
	maxReplicas := state.MaxReplicas
	if b := t.cfg.Bounds.MaxReplicas; b > 0 && (maxReplicas == 0 || b < maxReplicas) {
		maxReplicas = b
	}
	return maxReplicas
}

// Reasons a demand step could not be used: missing (no value, or NaN, from
// the source) and the forecaster's refusals (predictor.Rejection).
const reasonMissing = "missing"

// invalidReasons lists every reason of Outcome.InvalidSteps, so each
// target's counters exist from its first loop.
var invalidReasons = func() []string {
	reasons := []string{reasonMissing}
	for _, r := range predictor.Rejections {
		reasons = append(reasons, r.String())
	}
	return reasons
}()

func (o *Outcome) countInvalid(reason string, n int) {
	if n <= 0 {
		return
	}
	if o.InvalidSteps == nil {
		o.InvalidSteps = map[string]int{}
	}
	o.InvalidSteps[reason] += n
}

// refusedSoFar is the forecaster's count of refused steps, by reason.
func (t *target) refusedSoFar() []int {
	roll := t.plan.Rolling()
	counts := make([]int, len(predictor.Rejections))
	for i, r := range predictor.Rejections {
		counts[i] = roll.Rejected(r)
	}
	return counts
}

// countRefused adds the steps refused since before to the outcome and to
// the pending report. Implausible values of the history read before the
// first fit are refused by that fit, without an error of their own.
func (t *target) countRefused(before []int, out *Outcome) {
	roll := t.plan.Rolling()
	for i, r := range predictor.Rejections {
		n := roll.Rejected(r) - before[i]
		out.countInvalid(r.String(), n)
		t.refused.count += n
	}
	if t.refused.count > 0 && t.refused.latest == nil {
		t.refused.latest = fmt.Errorf("implausible demand above %.4g left out of the first fit", roll.PlausibleLimit())
	}
}

// refusedReportEvery is the longest a target stays silent about refused
// demand: the first refusal is reported at once, later ones at most this
// often, with their count, so a query returning garbage every minute writes
// one log line an hour, not one a loop.
const refusedReportEvery = time.Hour

// refusedReport gathers refused demand steps between two reports.
type refusedReport struct {
	count  int   // refused since the last report
	latest error // the newest refusal's error
	last   time.Time
}

// due returns the report when one is pending and the last is old enough,
// and starts gathering the next.
func (r *refusedReport) due(now time.Time) error {
	if r.count == 0 || !r.last.IsZero() && now.Sub(r.last) < refusedReportEvery {
		return nil
	}
	err := fmt.Errorf("demand: %d steps refused and counted as missing; the latest: %w", r.count, r.latest)
	r.count, r.latest, r.last = 0, nil, now
	return err
}
