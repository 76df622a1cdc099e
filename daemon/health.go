package daemon

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// Event reasons of a target's demotion and promotion.
const (
	ReasonDemoted  = "ForecastDemoted"
	ReasonPromoted = "ForecastPromoted"
)

// minLearnSamples is how many observations a learned capacity needs, when
// the learning window holds that many steps.
const minLearnSamples = 30

// health is a target's forecast record and learned capacity, built from
// its config by newHealth.
type health struct {
	// learner learns the per-replica capacity (nil unless "auto").
	learner *scaler.CapacityLearner
	// errors scores the lead-time forecast; short remembers, per step, a
	// latency breach with the floor below the HPA's count.
	errors  *predictor.ErrorTracker
	short   *flagWindow
	policy  scaler.DemotionPolicy
	demoted bool
}

func newHealth(cfg config.Target) (*health, error) {
	learner, err := newLearner(cfg)
	if err != nil {
		return nil, err
	}
	step := time.Duration(cfg.Forecast.Step)
	window := max(1, int(time.Duration(cfg.Demotion.Window)/step))
	horizon := max(1, int(math.Ceil(float64(cfg.ConfiguredLead())/float64(step))))
	tracker, err := predictor.NewErrorTracker(horizon, window)
	if err != nil {
		return nil, err
	}
	policy, err := newPolicy(cfg, window)
	if err != nil {
		return nil, err
	}
	return &health{learner: learner, errors: tracker, short: newFlagWindow(window), policy: policy}, nil
}

func newLearner(cfg config.Target) (*scaler.CapacityLearner, error) {
	if !cfg.ReplicaCapacity.Auto {
		return nil, nil
	}
	window := max(1, int(time.Duration(cfg.SLO.LearnWindow)/time.Duration(cfg.Forecast.Step)))
	return scaler.NewCapacityLearner(scaler.CapacityOptions{
		LatencySLO: time.Duration(cfg.SLO.Latency).Seconds(),
		GPUCeiling: cfg.SLO.GPUUtilizationCeiling,
		Window:     window,
		MinSamples: min(minLearnSamples, window),
	})
}

// newPolicy judges on at least half the window's steps.
func newPolicy(cfg config.Target, window int) (scaler.DemotionPolicy, error) {
	d := cfg.Demotion
	p := scaler.DemotionPolicy{ErrorAbove: d.ErrorAbove, RecoverBelow: d.RecoverBelow, ShortAbove: d.ShortAbove,
		MinScored: max(1, window/2)}
	if !d.Enabled {
		return p, nil
	}
	return p, p.Validate()
}

// reconfigure prepares a new config for a target whose forecaster is kept:
// the learned capacity and the forecast's record survive unless what they
// measure changed. Nothing changes until commit is called.
func (t *target) reconfigure(cfg config.Target) (commit func(), err error) {
	old := t.cfg
	h := *t.health
	if old.SLO != cfg.SLO || old.ReplicaCapacity.Auto != cfg.ReplicaCapacity.Auto {
		if h.learner, err = newLearner(cfg); err != nil {
			return nil, err
		}
	}
	if old.Demotion.Window != cfg.Demotion.Window {
		fresh, err := newHealth(cfg)
		if err != nil {
			return nil, err
		}
		h.errors, h.short, h.demoted = fresh.errors, fresh.short, false
	}
	if h.policy, err = newPolicy(cfg, h.short.size()); err != nil {
		return nil, err
	}
	if !cfg.Demotion.Enabled {
		h.demoted = false
	}
	retune := old.SLO.OverloadBudget != cfg.SLO.OverloadBudget || old.Tuning != cfg.Tuning
	return func() {
		t.cfg, t.health = cfg, &h
		if retune {
			t.tune.reset()
		}
	}, nil
}

// observeServing reads the target's signals after new demand steps came in:
// one capacity observation per loop, and the forecast-short flag for each
// new step.
func (t *target) observeServing(ctx context.Context, src SignalSource, state ScaleState, newSteps int, now time.Time, out *Outcome) {
	out.Signals = NoSignals()
	if src != nil {
		sig, err := src.Signals(ctx, &t.cfg, now)
		if err != nil {
			out.Errs = append(out.Errs, fmt.Errorf("signals: %w", err))
		}
		out.Signals = sig
	}
	sig := out.Signals
	slo := time.Duration(t.cfg.SLO.Latency).Seconds()
	out.SLOBreach = slo > 0 && sig.Latency > slo
	out.ForecastShort = out.SLOBreach && state.CurrentFloor < state.CurrentReplicas
	if newSteps == 0 {
		return
	}
	for range newSteps {
		t.health.short.push(out.ForecastShort)
	}
	if t.health.learner != nil && sig.ReadyReplicas > 0 && !math.IsNaN(t.lastDemand) {
		t.health.learner.Add(scaler.CapacitySample{PerReplica: t.lastDemand / float64(sig.ReadyReplicas),
			Latency: sig.Latency, GPUUtilization: sig.GPUUtilization})
	}
}

// replicaCapacity is the per-replica capacity the decision uses: the
// configured number, or the learned one once there is one, or the fallback.
func (t *target) replicaCapacity() (float64, bool) {
	if !t.cfg.ReplicaCapacity.Auto {
		return t.cfg.ReplicaCapacity.Value, false
	}
	if est, ok := t.health.learner.Estimate(); ok {
		return est.PerReplica, true
	}
	return t.cfg.FallbackReplicaCapacity, false
}

// judge updates the demotion state from the forecast's record and, on a
// change, announces it on the object (not in shadow mode, which writes
// nothing).
func (t *target) judge(ctx context.Context, s Scaler, out *Outcome) {
	wape, scored := t.health.errors.WAPE()
	out.Health = scaler.ForecastHealth{WAPE: wape, Scored: scored, ShortShare: t.health.short.share()}
	if t.cfg.Demotion.Enabled {
		demoted, why := t.health.policy.Next(t.health.demoted, out.Health)
		if demoted != t.health.demoted {
			t.health.demoted, out.DemotionChange = demoted, why
			t.announce(ctx, s, out)
		}
	}
	out.Demoted = t.health.demoted
}

func (t *target) announce(ctx context.Context, s Scaler, out *Outcome) {
	if t.cfg.Mode == config.ModeShadow {
		return
	}
	reason := ReasonPromoted
	if t.health.demoted {
		reason = ReasonDemoted
	}
	if err := s.Announce(ctx, &t.cfg, t.health.demoted, reason, out.DemotionChange); err != nil {
		out.Errs = append(out.Errs, fmt.Errorf("event %s: %w", reason, err))
	}
}

// flagWindow is a ring of the last n booleans.
type flagWindow struct {
	flags []bool
	pos   int
	n     int
	set   int
}

func newFlagWindow(size int) *flagWindow { return &flagWindow{flags: make([]bool, size)} }

func (w *flagWindow) size() int { return len(w.flags) }

func (w *flagWindow) push(v bool) {
	if w.n == len(w.flags) && w.flags[w.pos] {
		w.set--
	}
	w.flags[w.pos] = v
	if v {
		w.set++
	}
	w.pos = (w.pos + 1) % len(w.flags)
	w.n = min(w.n+1, len(w.flags))
}

// share is the fraction of the held flags that are set (0 when empty).
func (w *flagWindow) share() float64 {
	if w.n == 0 {
		return 0
	}
	return float64(w.set) / float64(w.n)
}
