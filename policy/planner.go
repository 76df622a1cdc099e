package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// Clip is the robust-updating level of every forecaster prescaler runs:
// one-step errors beyond Clip error scales are clipped before they move the
// states, so one burst does not bend the seasonal profile for days.
const Clip = 5

// Settings configure a Planner's forecaster and the windows its decisions
// cover. They are fixed for a Planner's life: a change starts a new one.
type Settings struct {
	// Step is the forecast step; Season and Season2 (0: none) the seasons,
	// whole numbers of steps.
	Step, Season, Season2 time.Duration
	// History is the window the model is fitted on; Refit the period of
	// refits; RefitPhase, in [1, Refit/Step], the steps from the first fit
	// to the first refit (0: a whole period), so many targets do not all
	// refit in one loop.
	History, Refit time.Duration
	RefitPhase     int
	// Lead is the lead time the forecast's intervals are calibrated for
	// (the configured start-up time, or the default until it is measured;
	// Recalibrate changes it). A decision may cover a longer lead: the
	// intervals then widen by extrapolation.
	Lead time.Duration
	// Guard is the scale-down guard window after the lead time.
	Guard time.Duration
	// MaxStepDownPercent bounds a floor's drop per decision (0: no bound).
	MaxStepDownPercent int32
	// Troughs cuts the HPA's scale-down stabilization to the lead time while
	// the forecast needs fewer replicas than run (scaler.Inputs.Troughs).
	Troughs bool
}

// Headroom is how much capacity a floor holds above the forecast mean (see
// the package comment).
type Headroom struct {
	// Quantile of the forecast demand the floor covers, in (0, 1).
	Quantile float64
	// Utilization is the fraction of a replica's capacity the floor plans
	// to use, in (0, 1].
	Utilization float64
}

// Validate names the knob outside its domain.
func (h Headroom) Validate() error {
	var errs []error
	if !(h.Quantile > 0 && h.Quantile < 1) {
		errs = append(errs, fmt.Errorf("quantile %v must be in (0, 1)", h.Quantile))
	}
	if !(h.Utilization > 0 && h.Utilization <= 1) {
		errs = append(errs, fmt.Errorf("floor utilization %v must be in (0, 1]", h.Utilization))
	}
	return errors.Join(errs...)
}

func (h Headroom) String() string {
	return fmt.Sprintf("quantile %.2f, floor utilization %.2f", h.Quantile, h.Utilization)
}

// Planner is one target's forecaster and decision path.
type Planner struct {
	set  Settings
	roll *predictor.Rolling
}

// New validates the settings and returns a Planner with no history.
func New(s Settings) (*Planner, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	roll, err := predictor.NewRolling(s.rollingOptions())
	if err != nil {
		return nil, fmt.Errorf("forecaster: %w", err)
	}
	return &Planner{set: s, roll: roll}, nil
}

// Restore validates the settings and returns a Planner whose forecaster
// continues from snap, a snapshot of the forecaster of a Planner built with
// the same settings (Settings, then Rolling().Snapshot()).
func Restore(s Settings, snap predictor.RollingSnapshot) (*Planner, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	roll, err := predictor.RestoreRolling(s.rollingOptions(), snap)
	if err != nil {
		return nil, fmt.Errorf("forecaster: %w", err)
	}
	return &Planner{set: s, roll: roll}, nil
}

// validate checks what the forecaster's options do not: the forecaster
// (NewRolling, RestoreRolling) checks its own.
func (s Settings) validate() error {
	if s.Step <= 0 {
		return fmt.Errorf("forecast step %s must be positive", s.Step)
	}
	if s.Lead < 0 || s.Guard < 0 {
		return fmt.Errorf("lead %s and guard %s must not be negative", s.Lead, s.Guard)
	}
	return nil
}

// rollingOptions are the forecaster's options for the settings.
func (s Settings) rollingOptions() predictor.RollingOptions {
	return predictor.RollingOptions{
		Options: predictor.Options{
			Period:  int(s.Season / s.Step),
			Period2: int(s.Season2 / s.Step),
			// Calibrated for the usual decision: one step elapsed.
			Horizon: scaler.ForecastSteps(s.Step, s.Step, s.Lead, s.Guard),
			Clip:    Clip,
		},
		Window:     int(s.History / s.Step),
		RefitEvery: max(1, int(s.Refit/s.Step)),
		FirstRefit: s.RefitPhase,
	}
}

// Settings returns the settings the Planner was built with.
func (p *Planner) Settings() Settings { return p.set }

// Recalibrate rebuilds the forecaster with its intervals calibrated for a
// new lead time and refits it at once on the history it holds. A model's
// calibration is fixed when it is fitted, for the horizons up to
// scaler.ForecastSteps(step, step, lead, guard); a decision that reads past
// them gets intervals extrapolated by √(h/H), not calibrated ones. The
// refit is a scheduled refit brought forward: the same trailing window and
// the same fit, after which the refits follow Settings.RefitPhase as after
// a first fit. Values refused as implausible are handed over as missing, so
// a later refit no longer judges them again. When the fit fails the Planner
// is left as it was and the error says why. fitted reports whether a model
// was fitted (false while the history is shorter than a fit needs).
func (p *Planner) Recalibrate(lead time.Duration) (fitted bool, err error) {
	set := p.set
	set.Lead = lead
	next, err := New(set)
	if err != nil {
		return false, err
	}
	for _, v := range p.roll.History() {
		f, _ := next.roll.Observe(v)
		fitted = fitted || f
	}
	if p.roll.Model() != nil && next.roll.Model() == nil {
		return false, fmt.Errorf("refit for lead %s: %w", lead, next.roll.LastError)
	}
	*p = *next
	return fitted, nil
}

// Observe feeds the demand of the next step (NaN: missing).
func (p *Planner) Observe(v float64) (fitted bool, err error) { return p.roll.Observe(v) }

// Model is the fitted model positioned after the last step observed; nil
// before the first fit.
func (p *Planner) Model() *predictor.Model { return p.roll.Model() }

// Rolling is the forecaster itself, for its fit counters.
func (p *Planner) Rolling() *predictor.Rolling { return p.roll }

// Situation is what a decision knows besides the forecast: the target's
// object, the cluster and the knobs in force.
type Situation struct {
	// Elapsed is the time since the end of the last step observed: the
	// forecast's first step began then.
	Elapsed time.Duration
	// Lead is the pods' start-up time now (configured or measured).
	Lead time.Duration
	// ReplicaCapacity is the demand one Ready replica serves.
	ReplicaCapacity scaler.PerMinute
	Headroom        Headroom
	// Fresh is false when demand could not be read or is stale: the floor
	// in force is then kept.
	Fresh bool
	// Demoted hands the target back to the HPA alone.
	Demoted bool

	UserMinReplicas, MaxReplicas, CurrentFloor, CurrentReplicas int32
	// CapacityReplicas is how many replicas the cluster can run; negative
	// when unknown.
	CapacityReplicas int32
	// ProvisionableReplicas, NodeLead and Placeholders describe nodes a
	// node autoscaler adds (scaler.Inputs has their meaning); all zero for
	// a fixed pool of nodes.
	ProvisionableReplicas int32
	NodeLead              time.Duration
	Placeholders          bool
	UserBehavior          *scaler.Behavior
	// Backlog is the requests waiting now (the queue depth); NaN unknown.
	Backlog float64
}

// Plan is one decision with the forecast it read.
type Plan struct {
	Decision scaler.Decision
	// Forecast covers the steps the decision read (nil without a model).
	Forecast []scaler.Step
}

// Plan decides the floor and behavior for the situation from the model in
// hand.
func (p *Planner) Plan(s Situation) Plan {
	steps, peaks, ok := p.forecast(p.set.ForecastSteps(s), s.Headroom.Quantile)
	s.Fresh = s.Fresh && ok
	return decide(p.set, s, steps, peaks)
}

// Decide is the decision for a situation and a forecast of the steps it
// covers (settings.ForecastSteps(s) of them, or more). Plan calls it with the model's forecast; the backtest
// also calls it with the demand that really came, to tell the policy's limits
// from the forecast's.
func Decide(set Settings, s Situation, forecast []scaler.Step) Plan {
	return decide(set, s, forecast, nil)
}

func decide(set Settings, s Situation, forecast []scaler.Step, peaks []scaler.PerMinute) Plan {
	in := scaler.Inputs{
		StepLength:            set.Step,
		Forecast:              forecast,
		Peaks:                 peaks,
		Lead:                  s.Lead,
		Guard:                 set.Guard,
		Elapsed:               s.Elapsed,
		ReplicaCapacity:       s.ReplicaCapacity * scaler.PerMinute(s.Headroom.Utilization),
		UserMinReplicas:       s.UserMinReplicas,
		MaxReplicas:           s.MaxReplicas,
		CurrentFloor:          s.CurrentFloor,
		CurrentReplicas:       s.CurrentReplicas,
		CapacityReplicas:      s.CapacityReplicas,
		ProvisionableReplicas: s.ProvisionableReplicas,
		NodeLead:              s.NodeLead,
		Placeholders:          s.Placeholders,
		MaxStepDownPercent:    set.MaxStepDownPercent,
		Troughs:               set.Troughs,
		Backlog:               s.Backlog,
		DataOK:                s.Fresh && forecast != nil,
		UserBehavior:          s.UserBehavior,
		Demoted:               s.Demoted,
	}
	return Plan{Decision: scaler.Decide(in), Forecast: forecast}
}

// ForecastSteps is how many forecast steps a decision in the situation
// reads: through the lead time and the longer of the guard window and a
// new node's start, from the origin.
func (set Settings) ForecastSteps(s Situation) int {
	return scaler.ForecastStepsWithNodes(set.Step, s.Elapsed, s.Lead, set.Guard, s.NodeLead)
}

// forecast reads, for every step the decision covers, the model's mean and
// the headroom's quantile of that step and of the peak up to it. The model
// forecasts the demand series it is fed, which is demand per minute.
func (p *Planner) forecast(n int, quantile float64) ([]scaler.Step, []scaler.PerMinute, bool) {
	model := p.roll.Model()
	if model == nil {
		return nil, nil, false
	}
	quantiles := make([]float64, n)
	if err := model.PeakQuantiles(quantile, quantiles); err != nil {
		return nil, nil, false
	}
	steps, peaks := make([]scaler.Step, n), make([]scaler.PerMinute, n)
	for h := range steps {
		q, err := model.Quantile(h+1, quantile)
		if err != nil {
			return nil, nil, false
		}
		steps[h] = scaler.Step{Mean: scaler.PerMinute(model.Point(h + 1)), Upper: scaler.PerMinute(q)}
		peaks[h] = scaler.PerMinute(quantiles[h])
	}
	return steps, peaks, true
}

// LeadForecast is the forecast one lead time ahead with a central interval
// of the given coverage (zero without a model), for the metrics.
func (p *Planner) LeadForecast(lead time.Duration, coverage float64) predictor.Forecast {
	model := p.roll.Model()
	if model == nil {
		return predictor.Forecast{}
	}
	h := max(1, int(math.Ceil(float64(lead)/float64(p.set.Step))))
	f, err := model.ForecastAt(h, coverage)
	if err != nil {
		return predictor.Forecast{}
	}
	return f
}
