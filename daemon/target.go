package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
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

	// Demand is the newest observed step's demand (NaN: none yet).
	Demand scaler.PerMinute
	// Signals are the serving signals read this loop.
	Signals Signals
	// ReplicaCapacity is the per-replica capacity the decision used, and
	// CapacityLearned whether it was learned (false: configured or fallback).
	ReplicaCapacity scaler.PerMinute
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
}

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
	// mu is held while the target moves (a loop's work on it) and while
	// its checkpoint record is taken, so a checkpoint written beside the
	// loop waits for one target at most, never for the whole loop.
	mu   sync.Mutex
	cfg  config.Target
	plan *policy.Planner
	// next is the start of the next demand step to read.
	next time.Time
	// lastValid is the end of the newest step that had data, lastDemand its
	// demand.
	lastValid  time.Time
	lastDemand scaler.PerMinute
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
	return &target{cfg: cfg, plan: plan, lastDemand: scaler.PerMinute(math.NaN()), health: h}, nil
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

// forecasterReport is what feeding the forecaster did: the steps it took,
// its fits and failed refits, the steps it could not use, by reason, and the
// time it spent. A backfill's, a recalibration's and a loop's own add up.
type forecasterReport struct {
	Steps         int
	Fits          int
	RefitFailures int
	// Invalid counts the steps the forecaster could not use, by reason
	// (see invalidReasons); each counts as missing.
	Invalid map[string]int
	FitTime time.Duration
	Errs    []error
}

// add adds o's counts, time and errors to r.
func (r *forecasterReport) add(o forecasterReport) {
	r.Steps += o.Steps
	r.Fits += o.Fits
	r.RefitFailures += o.RefitFailures
	r.FitTime += o.FitTime
	r.Errs = append(r.Errs, o.Errs...)
	for reason, n := range o.Invalid {
		r.countInvalid(reason, n)
	}
}

func (r *forecasterReport) countInvalid(reason string, n int) {
	if n <= 0 {
		return
	}
	if r.Invalid == nil {
		r.Invalid = map[string]int{}
	}
	r.Invalid[reason] += n
}

// feed reads the demand steps completed since the last loop and gives them
// to the forecaster and to the forecast's scorer; a target's history comes
// from a backfill (handOver) instead. It reports whether the data is fresh
// enough to lower a floor, and what the forecaster did.
func (t *target) feed(ctx context.Context, demand DemandSource, now time.Time, lag time.Duration) (fresh bool, r forecasterReport) {
	step := time.Duration(t.cfg.Forecast.Step)
	to := now.Add(-lag).Truncate(step)
	if t.next.IsZero() {
		return false, r // no history yet: the next loop begins its backfill
	}
	if to.After(t.next) {
		values, err := demand.Steps(ctx, &t.cfg, t.next, to)
		if err != nil {
			r.Errs = append(r.Errs, fmt.Errorf("demand: %w", err))
			return false, r
		}
		r = t.observeSteps(values, now)
	}
	fresh = t.plan.Model() != nil && !t.lastValid.IsZero() && now.Sub(t.lastValid) <= staleSteps*step+lag
	return fresh, r
}

// observeSteps feeds the values of the steps from t.next on, and counts
// and reports the ones the forecaster refused.
func (t *target) observeSteps(values []scaler.PerMinute, now time.Time) forecasterReport {
	r := forecasterReport{Steps: len(values)}
	before := t.refusedSoFar()
	fitBegan := time.Now()
	for _, v := range values {
		t.observe(v, &r)
	}
	r.FitTime = time.Since(fitBegan)
	t.countRefused(before, &r)
	if err := t.refused.due(now); err != nil {
		r.Errs = append(r.Errs, err)
	}
	return r
}

// observe feeds one demand step to the forecaster, then scores the forecast
// made one lead time ago for it and hands over the forecast for the step one
// lead time ahead. What it did is counted in r.
func (t *target) observe(demand scaler.PerMinute, r *forecasterReport) {
	step := time.Duration(t.cfg.Forecast.Step)
	roll := t.plan.Rolling()
	failedRefits := roll.FailedRefits
	v := float64(demand)
	if math.IsNaN(v) {
		r.countInvalid(reasonMissing, 1)
	}
	fitted, err := t.plan.Observe(v)
	if err != nil {
		t.refused.latest = err
		v = math.NaN()
	}
	if fitted {
		r.Fits++
	}
	if roll.FailedRefits > failedRefits {
		r.RefitFailures++
		r.Errs = append(r.Errs, fmt.Errorf("forecast: refit on the last %s failed, the model in hand is kept: %w",
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
		t.lastDemand = demand
	}
}

// leadTime is the configured lead time, or the start-up p90 measured now
// (measured true). Until a first measurement it is the default; when the
// window later holds too few pod starts, or cannot be read, the last
// measurement holds: a Deployment that created no pod for hours still
// starts them as slowly as it did.
func (t *target) leadTime(ctx context.Context, startup StartupSource) (lead time.Duration, measured bool, err error) {
	if !t.cfg.LeadTime.Auto {
		return t.cfg.LeadTime.Duration, false, nil
	}
	d, ok, err := startup.StartupP90(ctx, &t.cfg)
	if err != nil {
		err = fmt.Errorf("start-up time: %w", err)
	}
	if err == nil && ok && d > 0 {
		t.health.sizing.latest = d
		return d, true, nil
	}
	if last := t.health.sizing.latest; last > 0 {
		return last, false, err
	}
	return config.DefaultLeadTime, false, err
}

// capacity is how many replicas can run. When it cannot be read, prescaler
// does not raise beyond what runs now: it never asks for pods that may not
// schedule.
func (t *target) capacity(ctx context.Context, cs CapacitySource, state ScaleState) (int32, error) {
	n, err := cs.CapacityReplicas(ctx, &t.cfg)
	if err != nil {
		return max(state.CurrentReplicas, state.CurrentFloor), fmt.Errorf("capacity: %w", err)
	}
	return n, nil
}

// situation maps the config and what the loop gathered onto what the
// decision knows besides the forecast.
func (t *target) situation(g gathered, demoted bool, canKeepPlaceholders bool) policy.Situation {
	state := g.state
	userMin := max(state.UserMinReplicas, t.cfg.Bounds.MinReplicas)
	sit := policy.Situation{
		Lead:             g.lead,
		ReplicaCapacity:  g.replicaCapacity,
		Fresh:            g.fresh,
		Demoted:          demoted,
		UserMinReplicas:  userMin,
		MaxReplicas:      t.maxReplicas(state),
		CurrentFloor:     state.CurrentFloor,
		CurrentReplicas:  state.CurrentReplicas,
		CapacityReplicas: g.capacity,
		UserBehavior:     state.UserBehavior,
		Backlog:          g.serving.signals.QueueDepth,
	}
	if g.nodes.provisioning() {
		sit.ProvisionableReplicas = g.nodes.Provisionable
		sit.NodeLead = g.nodes.Lead
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
func (t *target) countRefused(before []int, rep *forecasterReport) {
	roll := t.plan.Rolling()
	for i, r := range predictor.Rejections {
		n := roll.Rejected(r) - before[i]
		rep.countInvalid(r.String(), n)
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
