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
	// sizing is the lead time the scorer and the forecaster's calibration
	// are sized for (see sizeForLead).
	sizing leadSizing
}

func newHealth(cfg config.Target) (*health, error) {
	learner, err := newLearner(cfg)
	if err != nil {
		return nil, err
	}
	window := demotionWindow(cfg)
	tracker, err := newScorer(cfg, cfg.ConfiguredLead())
	if err != nil {
		return nil, err
	}
	policy, err := newPolicy(cfg, window)
	if err != nil {
		return nil, err
	}
	return &health{learner: learner, errors: tracker, short: newFlagWindow(window), policy: policy,
		sizing: leadSizing{lead: cfg.ConfiguredLead()}}, nil
}

// demotionWindow is demotion.window in forecast steps.
func demotionWindow(cfg config.Target) int {
	return max(1, int(time.Duration(cfg.Demotion.Window)/time.Duration(cfg.Forecast.Step)))
}

// newScorer scores, over the demotion window, the forecast made one lead
// time before each step: ⌈lead / step⌉ steps earlier, at least one.
func newScorer(cfg config.Target, lead time.Duration) (*predictor.ErrorTracker, error) {
	return predictor.NewErrorTracker(leadSteps(lead, time.Duration(cfg.Forecast.Step)), demotionWindow(cfg))
}

// leadSteps is a lead time in whole forecast steps, rounded up, at least one.
func leadSteps(lead, step time.Duration) int {
	return max(1, int(math.Ceil(float64(lead)/float64(step))))
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

// leadSizing is the lead time a target's demotion scorer and forecaster
// calibration are sized for.
type leadSizing struct {
	// lead is the configured lead time, or the default until start-up
	// times are measured, then the measured one they were last sized for.
	lead     time.Duration
	measured bool
	// latest is the newest measured lead time (0: none yet).
	latest time.Duration
	// retryAt is the forecaster's step count from which a recalibration
	// whose fit failed is tried again (0: none failed).
	retryAt int
}

// Sizing is what a target's lead time sized, as of the end of a loop.
type Sizing struct {
	// Lead is the lead time the demotion scorer and the forecaster's
	// interval calibration are sized for (see sizeForLead).
	Lead time.Duration
	// CalibrationSteps is the longest horizon, in steps, for which the
	// model's intervals are calibrated (0 before the first fit).
	CalibrationSteps int
	// ScoringSteps is how many steps before each step the forecast the
	// demotion scorer scores was made.
	ScoringSteps int
}

// sizeForLead sizes the demotion scorer and the forecaster's interval
// calibration for a measured lead time, before the loop's demand reaches
// them. Both count the lead in whole forecast steps, so they are sized
// again on the first measurement and afterwards only when the measurement
// moves by more than one step from the lead they are sized for: a smaller
// move changes each by at most one step, while every resize costs a full
// fit and restarts the scorer's record, and the p90 of six hours of pod
// starts moves by seconds as pods come and go. The calibration reaches one
// step past the sized lead (calibrationLead), so no lead inside that band
// reads an interval extrapolated past the calibrated horizon. A configured
// lead time is never measured: its sizes stay those newTarget gave.
func (t *target) sizeForLead(lead time.Duration, measured bool) forecasterReport {
	s, step := &t.health.sizing, time.Duration(t.cfg.Forecast.Step)
	if measured && (!s.measured || (lead-s.lead).Abs() > step) {
		tracker, err := newScorer(t.cfg, lead)
		if err != nil {
			return forecasterReport{Errs: []error{fmt.Errorf("demotion: scorer for the measured lead %s: %w", lead, err)}}
		}
		// The record so far scored forecasts made another distance ahead:
		// it restarts, and the demotion state holds until half the window
		// is scored again (scaler.DemotionPolicy.MinScored).
		t.health.errors = tracker
		*s = leadSizing{lead: lead, measured: true, latest: s.latest}
	}
	return t.recalibrate()
}

// calibrationLead is the lead the forecaster's intervals are calibrated for
// when the lead time is measured: the sized lead plus the one-step band
// within which the measurement may move without a resize.
func calibrationLead(sized, step time.Duration) time.Duration { return sized + step }

// recalibrate refits the forecaster with its intervals calibrated for the
// measured lead when they are not yet. A fit that fails keeps the model in
// hand, as a failed refit does, and is tried again one forecast.refit later.
func (t *target) recalibrate() forecasterReport {
	s, step := &t.health.sizing, time.Duration(t.cfg.Forecast.Step)
	want := calibrationLead(s.lead, step)
	seen := t.plan.Rolling().Seen()
	if !s.measured || t.plan.Settings().Lead == want || seen < s.retryAt {
		return forecasterReport{}
	}
	began := time.Now()
	fitted, err := t.plan.Recalibrate(want)
	r := forecasterReport{FitTime: time.Since(began)}
	if err != nil {
		s.retryAt = seen + max(1, int(time.Duration(t.cfg.Forecast.Refit)/step))
		r.RefitFailures++
		r.Errs = append(r.Errs, fmt.Errorf("forecast: calibrating the intervals for the measured lead %s failed, the model in hand is kept: %w", s.lead, err))
		return r
	}
	s.retryAt = 0
	if fitted {
		r.Fits++
	}
	return r
}

// sizing reports the sizes in force.
func (t *target) sizing() Sizing {
	sz := Sizing{Lead: t.health.sizing.lead, ScoringSteps: t.health.errors.Horizon()}
	if m := t.plan.Model(); m != nil {
		sz.CalibrationSteps = m.Horizon()
	}
	return sz
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
		tracker, err := newScorer(cfg, h.sizing.lead)
		if err != nil {
			return nil, err
		}
		h.errors, h.short, h.demoted = tracker, newFlagWindow(demotionWindow(cfg)), false
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

// serving is what the loop read of how the target serves.
type serving struct {
	signals Signals
	// sloBreach: latency above its objective now; forecastShort: and the
	// floor below the HPA's own count (the forecast fell short).
	sloBreach, forecastShort bool
}

// observeServing reads the target's signals after new demand steps came in:
// one capacity observation per loop, and the forecast-short flag for each
// new step. Without a signal source every signal is unknown.
func (t *target) observeServing(ctx context.Context, src SignalSource, state ScaleState, newSteps int, now time.Time) (serving, error) {
	sv := serving{signals: NoSignals()}
	var err error
	if src != nil {
		if sv.signals, err = src.Signals(ctx, &t.cfg, now); err != nil {
			err = fmt.Errorf("signals: %w", err)
		}
	}
	sig := sv.signals
	slo := time.Duration(t.cfg.SLO.Latency).Seconds()
	sv.sloBreach = slo > 0 && sig.Latency > slo
	sv.forecastShort = sv.sloBreach && state.CurrentFloor < state.CurrentReplicas
	if newSteps == 0 {
		return sv, err
	}
	for range newSteps {
		t.health.short.push(sv.forecastShort)
	}
	if t.health.learner != nil && sig.ReadyReplicas > 0 && !math.IsNaN(float64(t.lastDemand)) {
		t.health.learner.Add(scaler.CapacitySample{PerReplica: float64(t.lastDemand) / float64(sig.ReadyReplicas),
			Latency: sig.Latency, GPUUtilization: sig.GPUUtilization})
	}
	return sv, err
}

// replicaCapacity is the per-replica capacity the decision uses: the
// configured number, or the learned one once there is one, or the fallback.
func (t *target) replicaCapacity() (scaler.PerMinute, bool) {
	if !t.cfg.ReplicaCapacity.Auto {
		return scaler.PerMinute(t.cfg.ReplicaCapacity.Value), false
	}
	if est, ok := t.health.learner.Estimate(); ok {
		return scaler.PerMinute(est.PerReplica), true
	}
	return scaler.PerMinute(t.cfg.FallbackReplicaCapacity), false
}

// judge updates the demotion state from the forecast's record. It returns
// the record, the state after this loop and, on a change, its sentence.
func (t *target) judge() (health scaler.ForecastHealth, demoted bool, change string) {
	wape, scored := t.health.errors.WAPE()
	health = scaler.ForecastHealth{WAPE: wape, Scored: scored, ShortShare: t.health.short.share()}
	if t.cfg.Demotion.Enabled {
		next, why := t.health.policy.Next(t.health.demoted, health)
		if next != t.health.demoted {
			t.health.demoted, change = next, why
		}
	}
	return health, t.health.demoted, change
}

// announce records an Event on the object for a demotion change (the
// sentence why), outside shadow mode.
func (t *target) announce(ctx context.Context, s Scaler, why string) error {
	if t.cfg.Mode == config.ModeShadow {
		return nil
	}
	reason := ReasonPromoted
	if t.health.demoted {
		reason = ReasonDemoted
	}
	if err := s.Announce(ctx, &t.cfg, t.health.demoted, reason, why); err != nil {
		return fmt.Errorf("event %s: %w", reason, err)
	}
	return nil
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
