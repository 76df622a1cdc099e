package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// reconcile runs one loop for the target at now, in three phases that hand
// each other plain values: gather reads the object, feeds the forecaster the
// new demand and reads the cluster; decide plans the floor from what was
// gathered; act writes it (nothing on a standby, the ledger in shadow mode).
// The Outcome is assembled from the three at the end.
func (t *target) reconcile(ctx context.Context, src sources, now time.Time) Outcome {
	g := t.gather(ctx, src, now)
	if g.readErr != nil || g.skip != "" {
		return t.outcome(g, decided{}, t.actSkipped(ctx, src, g, now))
	}
	t.restored = false // decided again: a later opt-out restores again
	d := t.decide(g, src, now)
	return t.outcome(g, d, t.act(ctx, src, g, d, now))
}

// gathered is what one loop read for a target.
type gathered struct {
	state ScaleState
	// readErr: the object could not be read, and nothing else was.
	readErr error
	// skip names why nothing is decided ("opted_out",
	// "unsupported_scale_target", "disabled"; empty: decide).
	skip string
	lead time.Duration
	// fed is what the forecaster did: a backfill handed over, a
	// recalibration for the lead and the steps read this loop;
	// backfillFit the part of its fit time spent beside the loop.
	fed         forecasterReport
	backfillFit time.Duration
	fresh       bool
	serving     serving
	capacity    int32
	nodes       NodeState
	// replicaCapacity is the per-replica capacity to decide with, learned
	// or configured.
	replicaCapacity scaler.PerMinute
	capacityLearned bool
	// tuneErr is a headroom replay's failure since the last loop, and
	// tuneNews whether its choice is new and to be announced.
	tuneErr  error
	tuneNews bool
	// read is the phase's time less the forecaster's.
	read time.Duration
	errs []error
}

// gather reads what the decision needs: the object first (nothing else when
// it cannot be read or is not to be decided), then the lead time, the
// demand, the serving signals and what the cluster can run. The lead time
// comes before the demand: the demand is scored, and a first fit
// calibrated, for it.
func (t *target) gather(ctx context.Context, src sources, now time.Time) (g gathered) {
	// A finished backfill is handed over whatever the object says, so a
	// disabled or opted-out target does not read its history again.
	g.fed, g.backfillFit = t.handOver()
	began := time.Now()
	defer func() { g.read = time.Since(began) - (g.fed.FitTime - g.backfillFit) }()
	var err error
	if g.state, err = src.scale.State(ctx, &t.cfg); err != nil {
		g.readErr = fmt.Errorf("read %s: %w", t.cfg.Object(), err)
		return g
	}
	if g.skip = skipReason(g.state); g.skip != "" {
		if g.state.Unsupported != nil {
			g.errs = append(g.errs, g.state.Unsupported)
		}
		return g
	}
	lead, measured, err := t.leadTime(ctx, src.startup)
	g.lead, g.errs = lead, appendErr(g.errs, err)
	g.fed.add(t.sizeForLead(lead, measured))
	fresh, fed := t.feed(ctx, src.demand, now, src.lag)
	g.fresh = fresh
	g.fed.add(fed)
	g.serving, err = t.observeServing(ctx, src.signals, g.state, g.fed.Steps, now)
	g.errs = appendErr(g.errs, err)
	g.capacity, err = t.capacity(ctx, src.capacity, g.state)
	g.errs = appendErr(g.errs, err)
	g.nodes, err = t.nodes(ctx, src.nodes, t.maxReplicas(g.state), g.capacity)
	g.errs = appendErr(g.errs, err)
	g.replicaCapacity, g.capacityLearned = t.replicaCapacity()
	g.tuneErr, g.tuneNews = t.takeNews()
	return g
}

// skipReason is why a target whose object reads as state is not decided
// ("": it is).
func skipReason(state ScaleState) string {
	switch {
	case state.Unsupported != nil:
		return "unsupported_scale_target"
	case state.OptedOut:
		return "opted_out"
	case state.Disabled:
		return "disabled"
	}
	return ""
}

// decided is the loop's decision for a target and what it rested on.
type decided struct {
	health scaler.ForecastHealth
	// demoted is the demotion state after this loop, demotionChange the
	// sentence of a change made this loop ("": none).
	demoted        bool
	demotionChange string
	headroom       policy.Headroom
	tuned          *TuneResult
	decision       scaler.Decision
	forecast       []scaler.Step
	leadForecast   predictor.Forecast
	sizing         Sizing
	took           time.Duration
}

// decide updates the forecast's demotion state, plans the floor and queues
// a headroom replay when one is due. It reads and writes no object.
func (t *target) decide(g gathered, src sources, now time.Time) decided {
	began := time.Now()
	var d decided
	d.health, d.demoted, d.demotionChange = t.judge()
	sit := t.situation(g, d.demoted, src.placeholders != nil)
	sit.Headroom, d.tuned = t.headroom()
	d.headroom = sit.Headroom
	t.maybeTune(src.tunes, sit, g.state, now)
	if g.fresh {
		// The forecast starts at the end of the last step read.
		sit.Elapsed = now.Sub(t.next)
	}
	plan := t.plan.Plan(sit)
	d.decision, d.forecast = plan.Decision, plan.Forecast
	d.leadForecast = t.plan.LeadForecast(g.lead, t.cfg.Forecast.Interval)
	d.sizing = t.sizing()
	d.took = time.Since(began)
	return d
}

// acted is what the loop wrote for a target.
type acted struct {
	standby, shadow bool
	shadowCounts    *ShadowCounts
	// wrote: the decision was applied; changed: and that changed the
	// object, from previousFloor to writtenFloor.
	wrote, changed              bool
	previousFloor, writtenFloor int32
	conflicts                   int
	placeholders                placeholderReport
	writeErr                    error
	errs                        []error
	took                        time.Duration
}

// act makes the decision true: Events for a demotion change and a new
// headroom choice, then the placeholders and the floor. A standby writes
// nothing; a shadow target only counts its ledger.
func (t *target) act(ctx context.Context, src sources, g gathered, d decided, now time.Time) (a acted) {
	if src.standby {
		// The leader counts a shadow target's ledger; counted twice, its
		// counters would add up to double over the replicas.
		return acted{standby: true}
	}
	began := time.Now()
	a.shadow = t.cfg.Mode == config.ModeShadow
	defer func() { a.took = time.Since(began) }()
	if d.demotionChange != "" {
		a.errs = appendErr(a.errs, t.announce(ctx, src.scale, d.demotionChange))
	}
	if g.tuneNews {
		a.errs = append(a.errs, t.announceTuning(ctx, src.scale, d.tuned)...)
	}
	if a.shadow {
		a.shadowCounts = t.countShadow(now, g, d.decision.Floor)
		return a
	}
	// Fewer placeholders go first, so the real pods the floor asks for
	// find their room free; more go after the floor, so they never hold
	// room the floor's pods need.
	keep := func() {
		var err error
		a.placeholders, err = t.keepPlaceholders(ctx, src.placeholders, d.decision.Placeholders, now, g.nodes.GPUsPerReplica)
		a.errs = appendErr(a.errs, err)
	}
	fewer := d.decision.Placeholders < t.placeholders
	if fewer {
		keep()
	}
	rep, err := src.scale.Apply(ctx, &t.cfg, d.decision)
	a.conflicts = rep.Conflicts
	if err != nil {
		a.writeErr = fmt.Errorf("write %s: %w", t.cfg.Object(), err)
		return a
	}
	a.wrote, a.changed, a.previousFloor, a.writtenFloor = true, rep.Changed, rep.PreviousFloor, rep.Floor
	if !fewer {
		keep()
	}
	return a
}

// actSkipped is act for a target not decided: an opted-out target or one
// whose scale target is unsupported gets its original values back, once,
// and keeps no placeholders; a disabled one, or one whose object could not
// be read, is left as it is.
func (t *target) actSkipped(ctx context.Context, src sources, g gathered, now time.Time) acted {
	a := acted{standby: src.standby}
	if src.standby || g.readErr != nil || g.skip == "disabled" {
		return a
	}
	var err error
	a.placeholders, err = t.keepPlaceholders(ctx, src.placeholders, 0, now, 0)
	a.errs = appendErr(a.errs, err)
	if t.restored {
		return a
	}
	if _, err := src.scale.Restore(ctx, &t.cfg); err != nil {
		a.errs = append(a.errs, fmt.Errorf("restore %s: %w", t.cfg.Object(), err))
	} else {
		t.restored = true
	}
	return a
}

// outcome assembles the loop's Outcome from its three phases.
func (t *target) outcome(g gathered, d decided, a acted) Outcome {
	o := Outcome{Target: t.cfg.Name, Object: t.cfg.Object(), Capacity: -1, Step: time.Duration(t.cfg.Forecast.Step),
		Skipped: g.skip, Standby: a.standby, Fits: g.fed.Fits, RefitFailures: g.fed.RefitFailures,
		InvalidSteps: g.fed.Invalid, Phases: PhaseTimes{Read: g.read}}
	o.Errs = appendErr(append([]error(nil), g.fed.Errs...), g.readErr)
	o.Errs = append(o.Errs, g.errs...)
	if g.tuneErr != nil {
		o.Errs = append(o.Errs, fmt.Errorf("headroom tuning: %w", g.tuneErr))
	}
	o.Errs = append(o.Errs, a.errs...)
	o.Placeholders, o.PlaceholderGPUSeconds = a.placeholders.kept, a.placeholders.gpuSeconds
	if g.readErr != nil || g.skip != "" {
		return o
	}
	o.Replicas, o.LeadTime, o.DataFresh, o.Demand = g.state.CurrentReplicas, g.lead, g.fresh, t.lastDemand
	o.Signals, o.SLOBreach, o.ForecastShort = g.serving.signals, g.serving.sloBreach, g.serving.forecastShort
	o.Capacity, o.Nodes, o.ReplicaCapacity, o.CapacityLearned = g.capacity, g.nodes, g.replicaCapacity, g.capacityLearned
	o.Phases.Fit, o.Phases.Decide, o.Phases.Write = g.fed.FitTime, d.took, a.took
	o.Health, o.Demoted, o.DemotionChange = d.health, d.demoted, d.demotionChange
	o.Headroom, o.Tuned, o.OverloadBudget = d.headroom, d.tuned, time.Duration(t.cfg.SLO.OverloadBudget)
	o.Decision, o.Forecast, o.LeadForecast, o.Sizing = d.decision, d.forecast, d.leadForecast, d.sizing
	o.Shadow, o.ShadowCounts = a.shadow, a.shadowCounts
	o.Wrote, o.Changed, o.PreviousFloor, o.WrittenFloor = a.wrote, a.changed, a.previousFloor, a.writtenFloor
	o.Conflicts, o.WriteErr = a.conflicts, a.writeErr
	return o
}

// appendErr appends err to errs unless it is nil.
func appendErr(errs []error, err error) []error {
	if err == nil {
		return errs
	}
	return append(errs, err)
}
