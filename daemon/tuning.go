package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/scaler"
)

// Event reasons of the headroom tuning.
const (
	ReasonHeadroomTuned = "HeadroomTuned"
	ReasonHPAAdvice     = "HPATargetAdvice"
)

// Tuner chooses a target's headroom for its overload budget by replaying
// the target's own history; the command wires the backtest's simulator.
type Tuner interface {
	Tune(ctx context.Context, req TuneRequest) (TuneResult, error)
}

// TuneRequest is one target's history and world for a replay.
type TuneRequest struct {
	Target config.Target
	// Demand is the target's history, one value per forecast step (NaN:
	// missing), oldest first; End is the end of its last step.
	Demand []scaler.PerMinute
	End    time.Time
	// ReplicaCapacity is the demand one Ready replica serves; Lead the
	// pods' start-up time.
	ReplicaCapacity scaler.PerMinute
	Lead            time.Duration
	// MinReplicas and MaxReplicas are the user's bounds; CapacityReplicas
	// the replicas the cluster can run (negative: unknown).
	MinReplicas, MaxReplicas, CapacityReplicas int32
}

// TuneResult is a replay's choice.
type TuneResult struct {
	Headroom policy.Headroom
	// ReplayGPUHours and ReplayOverloadedPerDay are what the choice cost
	// and let through over the replayed history; Met is false when no
	// candidate kept within the budget.
	ReplayGPUHours, ReplayOverloadedPerDay float64
	Met                                    bool
	// AdviceTarget is the hotter HPA utilization target the floors allow
	// (0: none), AdviceSaved the share of GPU-hours it saves over the
	// replay, Advice the sentence.
	AdviceTarget, AdviceSaved float64
	Advice                    string
}

// tuning is a target's headroom tuning state, shared with the worker.
type tuning struct {
	mu       sync.Mutex
	result   *TuneResult // in force; nil until the first replay
	fresh    bool        // result not yet announced
	inFlight bool
	next     time.Time // when the next replay is due
	err      error     // the last replay's failure, reported once
}

// reset forgets the choice after a change of budget or replay model: the
// configured headroom holds until the next replay, which is due at once.
func (tu *tuning) reset() {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	tu.result, tu.fresh, tu.next, tu.err = nil, false, time.Time{}, nil
}

// headroom is the target's headroom now: the tuned one when there is one,
// the configured one otherwise.
func (t *target) headroom() (policy.Headroom, *TuneResult) {
	t.tune.mu.Lock()
	defer t.tune.mu.Unlock()
	if t.cfg.SLO.OverloadBudget > 0 && t.tune.result != nil {
		r := *t.tune.result
		return r.Headroom, &r
	}
	return t.cfg.Headroom(), nil
}

// tuneJob is one queued replay.
type tuneJob struct {
	t   *target
	req TuneRequest
	at  time.Time
}

// maybeTune queues a replay when the target has a budget, a model, and its
// replay is due; the worker runs it off the loop.
// The replay's world is the decision's situation, with the HPA's own
// maxReplicas (bounds.maxReplicas caps the floor, not the HPA).
func (t *target) maybeTune(queue chan<- tuneJob, sit policy.Situation, state ScaleState, now time.Time) {
	if queue == nil || t.cfg.SLO.OverloadBudget <= 0 || t.plan.Model() == nil {
		return
	}
	t.tune.mu.Lock()
	defer t.tune.mu.Unlock()
	if t.tune.inFlight || now.Before(t.tune.next) {
		return
	}
	req := TuneRequest{Target: t.cfg, Demand: perMinute(t.plan.Rolling().History()), End: t.next,
		ReplicaCapacity: sit.ReplicaCapacity, Lead: sit.Lead, MinReplicas: sit.UserMinReplicas,
		MaxReplicas: state.MaxReplicas, CapacityReplicas: sit.CapacityReplicas}
	select {
	case queue <- tuneJob{t: t, req: req, at: now}:
		t.tune.inFlight = true
	default: // the worker is busy; try again next loop
	}
}

// finish records a replay's outcome. A failed replay keeps the headroom in
// force and is tried again after a tenth of the period.
func (t *target) finish(job tuneJob, res TuneResult, err error) {
	t.tune.mu.Lock()
	defer t.tune.mu.Unlock()
	t.tune.inFlight = false
	// The config the replay was queued with: t.cfg belongs to the loop
	// and to reloads, and this runs on the tuning worker.
	every := time.Duration(job.req.Target.Tuning.Every)
	if err != nil {
		t.tune.err = err
		t.tune.next = job.at.Add(every / 10)
		return
	}
	changed := t.tune.result == nil || t.tune.result.Headroom != res.Headroom || t.tune.result.AdviceTarget != res.AdviceTarget
	t.tune.result, t.tune.next, t.tune.err = &res, job.at.Add(every), nil
	t.tune.fresh = t.tune.fresh || changed
}

// takeNews returns a replay's failure and whether a new choice is to be
// announced, once each.
func (t *target) takeNews() (err error, announce bool) {
	t.tune.mu.Lock()
	defer t.tune.mu.Unlock()
	err, announce = t.tune.err, t.tune.fresh
	t.tune.err, t.tune.fresh = nil, false
	return err, announce
}

// announceTuning records an Event for a new choice (and for new advice) on
// the object, outside shadow mode, and returns what could not be recorded.
func (t *target) announceTuning(ctx context.Context, s Scaler, r *TuneResult) []error {
	if t.cfg.Mode == config.ModeShadow || r == nil {
		return nil
	}
	msg := fmt.Sprintf("headroom %s chosen for an overload budget of %s per day: over the last %s replayed it cost %.1f GPU-hours with %.1f overloaded minutes per day",
		r.Headroom, config.FormatDuration(time.Duration(t.cfg.SLO.OverloadBudget)), config.FormatDuration(time.Duration(t.cfg.Forecast.History-config.TuneFit(t.cfg))),
		r.ReplayGPUHours, r.ReplayOverloadedPerDay)
	if !r.Met {
		msg += " (no setting kept within the budget: the one with the fewest overloaded minutes)"
	}
	var errs []error
	if err := s.Announce(ctx, &t.cfg, !r.Met, ReasonHeadroomTuned, msg); err != nil {
		errs = append(errs, fmt.Errorf("event %s: %w", ReasonHeadroomTuned, err))
	}
	if r.Advice == "" {
		return errs
	}
	if err := s.Announce(ctx, &t.cfg, false, ReasonHPAAdvice, r.Advice); err != nil {
		errs = append(errs, fmt.Errorf("event %s: %w", ReasonHPAAdvice, err))
	}
	return errs
}

// tuneWorker runs queued replays one at a time until ctx ends.
func (d *Daemon) tuneWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-d.tuneQueue:
			d.runTune(ctx, job)
		}
	}
}

func (d *Daemon) runTune(ctx context.Context, job tuneJob) {
	start := time.Now()
	res, err := d.tuner.Tune(ctx, job.req)
	d.metrics.tuneDuration.Observe(time.Since(start).Seconds())
	job.t.finish(job, res, err)
}

// DrainTuning runs every queued replay now, in the caller's goroutine (for
// tests and one-shot runs that do not start the worker).
func (d *Daemon) DrainTuning(ctx context.Context) {
	for {
		select {
		case job := <-d.tuneQueue:
			d.runTune(ctx, job)
		default:
			return
		}
	}
}

// perMinute types the forecaster's history, which is the demand series it
// was fed.
func perMinute(values []float64) []scaler.PerMinute {
	out := make([]scaler.PerMinute, len(values))
	for i, v := range values {
		out[i] = scaler.PerMinute(v)
	}
	return out
}
