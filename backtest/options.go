package backtest

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/trace"
)

// Options describe one backtest: the demand, the service, the cluster, the
// HPA and prescaler's forecaster.
type Options struct {
	// Demand is the per-minute request count replayed through every policy.
	Demand trace.Series
	// Warmup is the history the forecaster learns from before the evaluation
	// starts; every policy is simulated and scored after it.
	Warmup time.Duration

	// ReplicaCapacity is the requests per minute one Ready replica serves at
	// its latency target.
	ReplicaCapacity float64
	// Startup is the time from scheduling to Ready; StartupJitter spreads it
	// uniformly by ± that much.
	Startup, StartupJitter time.Duration
	GPUs, GPUsPerReplica   int

	// NodeDelay, when > 0, gives the Deployment an elastic pool of nodes, as
	// a node autoscaler (Karpenter) runs it: the time from a node being
	// requested, for Pending pods, to Ready. 0: a fixed pool of GPUs, and
	// the node options below must be unset. See simulate/cluster.
	NodeDelay time.Duration
	// GPUsPerNode is the GPUs of one node (default 8, as the common GPU
	// instances have); a node holds ⌊GPUsPerNode / GPUsPerReplica⌋ pods.
	GPUsPerNode int
	// PoolLimitGPUs is the most GPUs the pool's nodes may hold (a NodePool's
	// limits; default GPUs, so GPUs keeps its meaning: what the Deployment
	// may use), rounded down to whole nodes.
	PoolLimitGPUs int
	// MinNodes are kept however empty; the run starts with at least them.
	MinNodes int
	// ConsolidateAfter is how long a node stays empty before it is removed
	// (consolidationPolicy WhenEmpty). Default 1 minute: Karpenter's own
	// default is 0 s, which removes a node the instant it empties, and a
	// short wait is the usual setting for nodes that take minutes to come
	// back.
	ConsolidateAfter time.Duration
	// Placeholders adds the prescaler run whose decisions hold the nodes a
	// rise needs with placeholder pods (scaler.Inputs.Placeholders).
	Placeholders bool

	// HPATargetUtilization is the HPA's utilization target (0.7 = 70 %).
	HPATargetUtilization float64
	// QueueTarget adds the ai_request_queue_depth Pods metric with this
	// AverageValue target (0: no queue metric).
	QueueTarget float64
	// MinReplicas and MaxReplicas are the user's HPA bounds.
	MinReplicas, MaxReplicas int32

	// Forecaster: model step, seasons, refit period and the demand quantile
	// the floor covers.
	Step, Season, Season2, Refit time.Duration
	Quantile                     float64
	// FloorUtilization is the fraction of ReplicaCapacity the floor plans a
	// replica for (default 1, as a configured target's
	// forecast.floorUtilization).
	FloorUtilization float64
	// Guard is the scale-down guard window, MaxStepDownPercent the largest
	// drop of the floor per decision.
	Guard              time.Duration
	MaxStepDownPercent int32
	// Troughs is scaleDown.troughs: the HPA's scale-down stabilization cut
	// to the lead time in forecast troughs.
	Troughs bool

	// FrontierUtilizations are the targets of the reactive frontier runs.
	FrontierUtilizations []float64
	// Grid are extra prescaler runs, each at its own HPA target and
	// headroom: prescaler's own frontier.
	Grid []GridPoint
	// Tune, when set, adds the tuned run: prescaler whose headroom is chosen
	// before each evaluated day by Tune on the days before it only.
	Tune *TuneSettings
	// Timeline keeps per-minute rows for the main policies.
	Timeline bool
	Seed     uint64
	// Progress, if set, is called as simulated minutes complete (from
	// several goroutines; it must be safe for that).
	Progress func(minutes int)
}

// Defaults fills unset options with the values the backtest command uses:
// a configured target's defaults for prescaler's settings.
func (o Options) Defaults() Options {
	def := config.DefaultTarget()
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&o.Warmup, 7*24*time.Hour)
	set(&o.Step, time.Duration(def.Forecast.Step))
	set(&o.Season, time.Duration(def.Forecast.Season))
	set(&o.Refit, time.Duration(def.Forecast.Refit))
	set(&o.Guard, time.Duration(def.ScaleDown.Stabilization))
	if o.HPATargetUtilization == 0 {
		o.HPATargetUtilization = 0.7
	}
	if o.FloorUtilization == 0 {
		o.FloorUtilization = def.Forecast.FloorUtilization
	}
	if o.Quantile == 0 {
		o.Quantile = def.Forecast.Quantile
	}
	if o.GPUsPerReplica == 0 {
		o.GPUsPerReplica = 1
	}
	if o.MinReplicas == 0 {
		o.MinReplicas = 1
	}
	if o.MaxStepDownPercent == 0 {
		o.MaxStepDownPercent = def.ScaleDown.MaxStepPercent
	}
	if o.NodeDelay > 0 {
		o = o.nodeDefaults()
	}
	if o.FrontierUtilizations == nil {
		for u := 0.40; u < 0.951; u += 0.05 {
			o.FrontierUtilizations = append(o.FrontierUtilizations, math.Round(u*100)/100)
		}
	}
	return o
}

// Validate reports every option outside its domain, naming the option.
func (o Options) Validate() error {
	var errs []error
	bad := func(name string, v any, why string) { errs = append(errs, fmt.Errorf("%s %v: %s", name, v, why)) }
	if o.Demand.StepMinutes != 1 {
		bad("demand step", o.Demand.StepMinutes, "must be 1 minute")
	}
	if warm := int(o.Warmup / time.Minute); warm >= o.Demand.Len() {
		bad("warmup", o.Warmup, fmt.Sprintf("leaves nothing of the %d-minute trace to evaluate", o.Demand.Len()))
	}
	if !(o.ReplicaCapacity > 0) || math.IsInf(o.ReplicaCapacity, 0) {
		bad("replica capacity", o.ReplicaCapacity, "must be a positive number of requests per minute")
	}
	if o.Startup < 0 || o.StartupJitter < 0 || o.StartupJitter > o.Startup {
		bad("startup jitter", o.StartupJitter, fmt.Sprintf("must be between 0 and the start-up time %s", o.Startup))
	}
	if o.GPUs < o.GPUsPerReplica || o.GPUsPerReplica < 1 {
		bad("gpus", o.GPUs, fmt.Sprintf("must hold at least one replica of %d GPUs", o.GPUsPerReplica))
	}
	o.validateNodes(bad)
	for _, u := range append([]float64{o.HPATargetUtilization, o.FloorUtilization}, o.FrontierUtilizations...) {
		if !(u > 0 && u <= 1) {
			bad("target utilization", u, "must be in (0, 1]")
		}
	}
	if !(o.Quantile > 0 && o.Quantile < 1) {
		bad("quantile", o.Quantile, "must be in (0, 1)")
	}
	if t := o.Tune; t != nil {
		if t.Fit < o.Season || t.Fit < o.Step || t.Window < 24*time.Hour || t.Fit+t.Window > o.Warmup {
			bad("tune window", t.Fit+t.Window, fmt.Sprintf("must fit at least one season (%s) and replay at least a day, within the warm-up %s", o.Season, o.Warmup))
		}
		if u := t.HPATargetUtilization; !(u >= 0 && u <= 1) {
			bad("tune HPA target", u, "must be in (0, 1] (0: the HPA's own target)")
		}
		if t.Fit%o.Step != 0 || t.Window%time.Minute != 0 {
			bad("tune fit", t.Fit, fmt.Sprintf("must be a multiple of the step %s", o.Step))
		}
	}
	for i, g := range o.Grid {
		if err := g.Headroom.Validate(); err != nil {
			bad(fmt.Sprintf("grid[%d]", i), g.Headroom, err.Error())
		}
		if u := g.HPATargetUtilization; !(u > 0 && u <= 1) {
			bad(fmt.Sprintf("grid[%d] HPA target", i), u, "must be in (0, 1]")
		}
	}
	if o.MaxReplicas < o.MinReplicas || o.MinReplicas < 1 {
		bad("max replicas", o.MaxReplicas, fmt.Sprintf("must be at least min replicas %d (≥ 1)", o.MinReplicas))
	}
	if o.Step < time.Minute || o.Step%time.Minute != 0 {
		bad("step", o.Step, "must be a whole number of minutes")
	} else if o.Season%o.Step != 0 || o.Season2%o.Step != 0 || o.Refit < o.Step || o.Warmup < o.Step {
		bad("season", o.Season, fmt.Sprintf("season, season2, refit and warmup must be multiples of the step %s", o.Step))
	}
	return errors.Join(errs...)
}

// DefaultGPUsPerNode and DefaultConsolidateAfter are the elastic pool's
// defaults (see Options).
const (
	DefaultGPUsPerNode      = 8
	DefaultConsolidateAfter = time.Minute
)

func (o Options) nodeDefaults() Options {
	if o.GPUsPerNode == 0 {
		o.GPUsPerNode = DefaultGPUsPerNode
	}
	if o.PoolLimitGPUs == 0 {
		o.PoolLimitGPUs = o.GPUs
	}
	if o.ConsolidateAfter == 0 {
		o.ConsolidateAfter = DefaultConsolidateAfter
	}
	return o
}

// validateNodes checks the elastic pool's options: with a fixed pool they
// mean nothing, so setting them is a mistake worth naming.
func (o Options) validateNodes(bad func(name string, v any, why string)) {
	if o.NodeDelay == 0 {
		for _, f := range []struct {
			name string
			set  bool
			v    any
		}{
			{"gpus per node", o.GPUsPerNode != 0, o.GPUsPerNode}, {"pool limit gpus", o.PoolLimitGPUs != 0, o.PoolLimitGPUs},
			{"min nodes", o.MinNodes != 0, o.MinNodes}, {"consolidate after", o.ConsolidateAfter != 0, o.ConsolidateAfter},
			{"placeholders", o.Placeholders, o.Placeholders},
		} {
			if f.set {
				bad(f.name, f.v, "needs a node delay (nodes provisioned on demand)")
			}
		}
		return
	}
	switch {
	case o.NodeDelay < 0:
		bad("node delay", o.NodeDelay, "must not be negative")
	case o.GPUsPerNode < o.GPUsPerReplica:
		bad("gpus per node", o.GPUsPerNode, fmt.Sprintf("must hold at least one replica of %d GPUs", o.GPUsPerReplica))
	case o.PoolLimitGPUs < o.GPUsPerNode:
		bad("pool limit gpus", o.PoolLimitGPUs, fmt.Sprintf("must hold at least one node of %d GPUs", o.GPUsPerNode))
	case o.MinNodes < 0 || o.MinNodes > o.PoolLimitGPUs/o.GPUsPerNode:
		bad("min nodes", o.MinNodes, fmt.Sprintf("must be between 0 and the %d nodes the pool limit holds", o.PoolLimitGPUs/o.GPUsPerNode))
	case o.ConsolidateAfter < 0:
		bad("consolidate after", o.ConsolidateAfter, "must not be negative")
	}
}

// poolNodes is the most nodes the elastic pool may hold: its limit in whole
// nodes, as Karpenter launches no node that would cross a NodePool's limit.
func (o Options) poolNodes() int { return o.PoolLimitGPUs / o.GPUsPerNode }

// perNode is how many replicas one node holds.
func (o Options) perNode() int32 { return int32(o.GPUsPerNode / o.GPUsPerReplica) }

// TuneSettings configure the tuned run's daily choices.
type TuneSettings struct {
	// Budget is the overloaded minutes per day tolerated; MatchHPA holds
	// each choice to the HPA alone's own over its replay instead.
	Budget   float64
	MatchHPA bool
	// Fit is the history the replay's forecaster is fitted on, Window the
	// days replayed after it: each choice reads the Fit + Window before its
	// day, which the warm-up must hold.
	Fit, Window time.Duration
	// Candidates (default DefaultCandidates) and AdviseTargets as in
	// TuneOptions.
	Candidates    []policy.Headroom
	AdviseTargets []float64
	// HPATargetUtilization is the HPA's target in the tuned run and its
	// replays (0: the options' own), as when the user follows the advice;
	// MatchHPA still compares with the HPA alone at the options' target.
	HPATargetUtilization float64
}

func (t *TuneSettings) hpaTarget(o Options) float64 {
	if t.HPATargetUtilization > 0 {
		return t.HPATargetUtilization
	}
	return o.HPATargetUtilization
}

// GridPoint is one prescaler setting of the grid.
type GridPoint struct {
	HPATargetUtilization float64
	Headroom             policy.Headroom
}

// headroom is the main prescaler run's setting.
func (o Options) headroom() policy.Headroom {
	return policy.Headroom{Quantile: o.Quantile, Utilization: o.FloorUtilization}
}

// backtestTarget names the simulated target; its name sets the phase of
// its refits, as a configured target's does.
const backtestTarget = "backtest"

// Target is the configured target the backtest's prescaler stands for: the
// options' forecaster and headroom, a fixed lead time of the start-up time,
// and the history the warm-up holds. Its object, queries and capacity are
// left unset.
func (o Options) Target() config.Target {
	t := config.DefaultTarget()
	t.Name = backtestTarget
	t.Forecast.Step = config.Duration(o.Step)
	t.Forecast.Season = config.Duration(o.Season)
	t.Forecast.Season2 = config.Duration(o.Season2)
	t.Forecast.History = config.Duration(o.Warmup)
	t.Forecast.Refit = config.Duration(o.Refit)
	t.Forecast.Quantile = o.Quantile
	t.Forecast.FloorUtilization = o.FloorUtilization
	t.LeadTime = config.LeadTime{Duration: o.Startup}
	t.ScaleDown = config.ScaleDown{Stabilization: config.Duration(o.Guard), MaxStepPercent: o.MaxStepDownPercent, Troughs: o.Troughs}
	return t
}

// OptionsFor is the inverse of Target for the prescaler side: the options
// whose prescaler run is the configured target's (forecaster, headroom,
// scale-down rules), with the HPA as the target's tuning section models
// it. The demand, the warm-up, the service and the cluster are left unset.
func OptionsFor(t config.Target) Options {
	return Options{
		Step: time.Duration(t.Forecast.Step), Season: time.Duration(t.Forecast.Season), Season2: time.Duration(t.Forecast.Season2),
		Refit: time.Duration(t.Forecast.Refit), Quantile: t.Forecast.Quantile, FloorUtilization: t.Forecast.FloorUtilization,
		Guard: time.Duration(t.ScaleDown.Stabilization), MaxStepDownPercent: t.ScaleDown.MaxStepPercent, Troughs: t.ScaleDown.Troughs,
		HPATargetUtilization: t.Tuning.HPATargetUtilization, QueueTarget: t.Tuning.HPAQueueTarget,
	}
}
