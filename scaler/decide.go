package scaler

import (
	"fmt"
	"math"
	"time"
)

// Reason names the rule or bound that shaped a decision. It becomes a metric
// label, an Event reason and a log field, so a user can answer "why 7?".
type Reason string

// Reasons, from the forecast itself to each bound that can override it.
const (
	// ReasonForecast: the floor is what the forecast asks for.
	ReasonForecast Reason = "forecast"
	// ReasonUserMin: the forecast asks for less than the user's own minReplicas.
	ReasonUserMin Reason = "user_min"
	// ReasonMaxReplicas: the forecast asks for more than the HPA's maxReplicas.
	ReasonMaxReplicas Reason = "max_replicas"
	// ReasonGPUCapacity: the free GPUs cannot schedule what the forecast asks for.
	ReasonGPUCapacity Reason = "gpu_capacity"
	// ReasonPoolLimit: the free GPUs plus what the node autoscaler's pools
	// may still add (their limits) cannot hold what the forecast asks for.
	ReasonPoolLimit Reason = "pool_limit"
	// ReasonRampLimit: the raise was capped by the per-decision raise limit.
	ReasonRampLimit Reason = "ramp_limit"
	// ReasonScaleDownGuard: the floor comes down more slowly than the forecast,
	// or not yet, because demand returns within the guard window.
	ReasonScaleDownGuard Reason = "scale_down_guard"
	// ReasonFallback: no usable forecast; the floor in force is kept.
	ReasonFallback Reason = "fallback"
	// ReasonDemoted: the forecast has been too poor lately; the target is
	// reactive, its floor the user's own minReplicas.
	ReasonDemoted Reason = "demoted"
)

// Reasons lists every reason, from the forecast to each bound, so that a
// metric can export one series per reason.
func Reasons() []Reason {
	return []Reason{ReasonForecast, ReasonUserMin, ReasonMaxReplicas, ReasonGPUCapacity, ReasonPoolLimit,
		ReasonRampLimit, ReasonScaleDownGuard, ReasonFallback, ReasonDemoted}
}

// PerMinute is demand in requests per minute, the one unit demand keeps on
// its way from the demand query to the floor: the query answers the mean
// request rate over each step in it, whatever the step's length
// (docs/config.md), the forecaster forecasts that series step by step, and
// a replica's capacity is stated in it, so the replicas a demand needs are
// demand / capacity with no conversion between. Backlogs (the queue depth)
// are requests, not a rate.
type PerMinute float64

// Step is the forecast of demand for one future step: the mean rate over
// the step.
type Step struct {
	Mean PerMinute
	// Upper is the configured demand quantile (e.g. the 90th percentile).
	Upper PerMinute
}

// Inputs is everything one decision needs.
type Inputs struct {
	// StepLength is the forecast step; Forecast[i] is the demand i+1 steps ahead.
	StepLength time.Duration
	Forecast   []Step
	// Peaks, when set, holds for each k the demand quantile of the peak over
	// the first k steps (Peaks[k-1]): the windows the floor covers are then
	// sized by the quantile of their peak, not by the largest per-step
	// quantile. It must be as long as Forecast.
	Peaks []PerMinute
	// Lead is the pods' start-up time: a replica asked for now serves after it.
	Lead time.Duration
	// Guard is how long the forecast must stay low before the floor comes down
	// (the scale-down stabilization window).
	Guard time.Duration
	// Elapsed is how long ago the forecast's first step began. A forecast is
	// made at the end of the last complete step, so a decision taken later
	// (the daemon reads a step a scrape lag after it ends, and loops several
	// times per step) is part-way into it. 0 at a step boundary.
	Elapsed time.Duration
	// ReplicaCapacity is the demand one Ready replica serves at its target.
	ReplicaCapacity PerMinute

	// UserMinReplicas is the user's own minReplicas: prescaler never goes below.
	UserMinReplicas int32
	// MaxReplicas is the HPA's maxReplicas.
	MaxReplicas int32
	// CurrentFloor is the minReplicas in force now (written by prescaler or
	// the user's own).
	CurrentFloor int32
	// CurrentReplicas is the scale target's replica count now.
	CurrentReplicas int32
	// CapacityReplicas is how many replicas of this target the cluster can
	// run now (its scheduled pods plus what the free GPUs can hold); negative
	// when unknown.
	CapacityReplicas int32
	// ProvisionableReplicas is how many more replicas the node autoscaler's
	// pools may still add nodes for (their limits less what they hold); 0
	// for a fixed pool of nodes.
	ProvisionableReplicas int32
	// NodeLead is how long a new node takes to be Ready; 0 for a fixed pool.
	// Replicas beyond what the nodes hold now are asked for NodeLead + Lead
	// ahead of the demand they serve, so the node autoscaler starts their
	// nodes in time.
	NodeLead time.Duration
	// Placeholders asks for those replicas as placeholder pods (preemptible,
	// holding the GPUs) instead of raising the floor early: the nodes come
	// up ahead, and the real pods, asked for one Lead ahead, take their place.
	Placeholders bool

	// MaxStepDownPercent bounds how much the floor drops in one decision
	// (at least one replica); 0 means no bound.
	MaxStepDownPercent int32
	// MaxRaise bounds how much the floor rises in one decision; 0 means no bound.
	MaxRaise int32
	// Troughs lets the behavior cut the HPA's scale-down stabilization to
	// the lead time while the forecast needs fewer replicas than run.
	Troughs bool

	// Backlog is the requests waiting now (the queue depth); NaN or 0 when
	// unknown or empty. The floor adds the rate that drains it within one
	// lead time: the replicas asked for now serve only after it.
	Backlog float64

	// DataOK is false when the forecast is missing or built on stale data:
	// then the floor in force is kept, never lowered.
	DataOK bool

	// UserBehavior is the user's own behavior, written back when nothing is due.
	UserBehavior *Behavior

	// Demoted hands the target back to the HPA alone: the floor is the
	// user's own minReplicas and the behavior the user's own.
	Demoted bool
}

// Decision is the floor and behavior to write, with what shaped them.
type Decision struct {
	// Floor is the minReplicas to write.
	Floor int32
	// Behavior is the behavior to write: the user's own when nothing is due.
	Behavior *Behavior
	Reason   Reason
	Message  string
	// Needed is the replica count the forecast asks for before any bound.
	Needed int32
	// PeakDemand is the demand quantile that sized Needed.
	PeakDemand PerMinute
	// RampDue reports a forecast rise above the current replicas within the lead time.
	RampDue bool
	// TroughDue reports that, with Inputs.Troughs, the forecast over the
	// lead time and the guard window needs fewer replicas than run now: the
	// behavior's scale-down stabilization is cut to the lead time.
	TroughDue bool
	// NodesDue reports that the forecast over NodeLead + Lead needs more
	// replicas than the nodes hold now: new nodes are due.
	NodesDue bool
	// Placeholders is, with Inputs.Placeholders, how many placeholder pods
	// to keep so that those nodes come up in time.
	Placeholders int32
}

// Decide computes the floor and behavior for one target (see the package
// comment for the rules). It does not fail: bad inputs give a fallback
// decision that keeps the floor in force, with the problem in Message.
func Decide(in Inputs) Decision {
	if in.Demoted {
		return demoted(in)
	}
	if err := in.validate(); err != nil {
		return fallback(in, err.Error())
	}
	raise, hold := in.raiseSteps(), in.holdSteps()
	raisePeak := in.peak(raise) + in.drain()
	holdPeak := in.peak(hold)
	raiseTo := in.replicasFor(raisePeak)
	holdAt := in.replicasFor(holdPeak)
	nodesTo, nodesPeak := in.nodesNeed()

	d := Decision{Needed: raiseTo, PeakDemand: raisePeak, Reason: ReasonForecast}
	d.RampDue = raiseTo > in.CurrentReplicas
	if d.NodesDue = nodesTo > in.CapacityReplicas && nodesTo > raiseTo; d.NodesDue && !in.Placeholders {
		// Replicas the nodes cannot hold now are asked for NodeLead
		// earlier: their pods stay Pending until the nodes they call for
		// are Ready, then start.
		raiseTo, raisePeak = nodesTo, nodesPeak
		d.Needed, d.PeakDemand = raiseTo, raisePeak
	}
	current := max(in.CurrentFloor, in.UserMinReplicas)
	switch {
	case raiseTo >= current:
		d.Floor = raiseTo
		if in.MaxRaise > 0 && d.Floor > current+in.MaxRaise {
			d.bound(current+in.MaxRaise, ReasonRampLimit, "raise capped at %d per decision", in.MaxRaise)
		}
	default:
		d.lower(in, current, holdAt, holdPeak)
	}
	d.applyBounds(in)
	if d.NodesDue && in.Placeholders {
		d.Placeholders = in.placeholders(d.Floor, nodesTo)
	}
	d.Behavior = in.behavior(&d, raise, hold)
	if d.Message == "" {
		window := in.Lead
		if d.NodesDue && !in.Placeholders {
			window = in.NodeLead + in.Lead
		}
		d.Message = fmt.Sprintf("forecast %.0f req/min over the next %s needs %d replicas of %.0f req/min",
			raisePeak, window, raiseTo, in.ReplicaCapacity)
		if drain := in.drain(); drain > 0 {
			d.Message += fmt.Sprintf(" (%.0f of them drain a backlog of %.0f requests)", drain, in.Backlog)
		}
		if d.NodesDue {
			d.Message += fmt.Sprintf("; the nodes hold %d, new nodes take %s", in.CapacityReplicas, in.NodeLead)
		}
	}
	if d.Placeholders > 0 {
		d.Message += fmt.Sprintf("; %d placeholder pods bring the nodes up ahead", d.Placeholders)
	}
	return d
}

// nodesNeed is, where new nodes take time (NodeLead > 0) and what the
// nodes hold now is known, the replicas the forecast asks for over the
// window that also covers a node's start (Elapsed + NodeLead + Lead), and
// the demand that sized it; 0 otherwise.
func (in Inputs) nodesNeed() (int32, PerMinute) {
	if in.NodeLead <= 0 || in.CapacityReplicas < 0 {
		return 0, 0
	}
	peak := in.peak(in.nodeSteps()) + in.drain()
	return in.replicasFor(peak), peak
}

// placeholders is how many placeholder pods make the node autoscaler hold
// nodesTo replicas in time: the gap between nodesTo and the replicas that
// run or are asked for (floor), within what the pools may add.
func (in Inputs) placeholders(floor, nodesTo int32) int32 {
	limit := in.CapacityReplicas + max(in.ProvisionableReplicas, 0)
	running := max(floor, in.CurrentReplicas)
	return max(0, min(nodesTo, limit)-running)
}

// lower brings the floor down towards what covers the forecast over the lead
// time and the guard window, at a bounded rate.
func (d *Decision) lower(in Inputs, current, holdAt int32, holdPeak PerMinute) {
	target := max(d.Needed, holdAt)
	if target > d.Needed {
		d.Reason = ReasonScaleDownGuard
		d.Message = fmt.Sprintf("demand returns to %.0f req/min within %s: floor held at %d", holdPeak, in.Lead+in.Guard, target)
	}
	d.Floor = target
	if in.MaxStepDownPercent > 0 {
		step := max(1, int32(math.Floor(float64(current)*float64(in.MaxStepDownPercent)/100)))
		if target < current-step {
			d.bound(current-step, ReasonScaleDownGuard, "floor lowered by at most %d%% (%d) per decision", in.MaxStepDownPercent, step)
		}
	}
}

// applyBounds enforces, in order of authority: the GPUs that can be scheduled
// (never create Pending pods), the HPA's maxReplicas, and the user's own
// minimum, which prescaler never undercuts (if the user's minimum exceeds the
// capacity, that is the user's choice, not prescaler's).
func (d *Decision) applyBounds(in Inputs) {
	switch limit := in.CapacityReplicas + max(in.ProvisionableReplicas, 0); {
	case in.CapacityReplicas < 0 || d.Floor <= limit:
	case in.ProvisionableReplicas > 0:
		d.bound(limit, ReasonPoolLimit, "the nodes hold %d replicas and the node pools' limits allow %d more, the forecast asks for %d",
			in.CapacityReplicas, in.ProvisionableReplicas, d.Needed)
	default:
		d.bound(in.CapacityReplicas, ReasonGPUCapacity, "free GPUs can run %d replicas, the forecast asks for %d", in.CapacityReplicas, d.Needed)
	}
	if in.MaxReplicas > 0 && d.Floor > in.MaxReplicas {
		d.bound(in.MaxReplicas, ReasonMaxReplicas, "capped at maxReplicas %d, the forecast asks for %d", in.MaxReplicas, d.Needed)
	}
	if d.Floor < in.UserMinReplicas {
		d.bound(in.UserMinReplicas, ReasonUserMin, "the forecast asks for %d, below the user's minReplicas %d", d.Needed, in.UserMinReplicas)
	}
}

func (d *Decision) bound(floor int32, reason Reason, format string, args ...any) {
	d.Floor = floor
	d.Reason = reason
	d.Message = fmt.Sprintf(format, args...)
}

// fallback keeps the floor in force: without a usable forecast, raising is
// a guess and lowering is a risk.
func fallback(in Inputs, why string) Decision {
	floor := max(in.CurrentFloor, in.UserMinReplicas)
	if in.MaxReplicas > 0 {
		floor = min(floor, max(in.MaxReplicas, in.UserMinReplicas))
	}
	return Decision{Floor: floor, Behavior: in.UserBehavior, Reason: ReasonFallback, Message: why}
}

// demoted gives the floor back to the user: the HPA scales on its own
// metrics from the user's minReplicas, as if prescaler were not there.
func demoted(in Inputs) Decision {
	return Decision{Floor: in.UserMinReplicas, Behavior: in.UserBehavior, Reason: ReasonDemoted,
		Message: fmt.Sprintf("forecast demoted: reactive at the user's minReplicas %d", in.UserMinReplicas)}
}

func (in Inputs) validate() error {
	switch {
	case !in.DataOK:
		return fmt.Errorf("no fresh forecast: keeping the floor in force")
	case in.StepLength <= 0:
		return fmt.Errorf("forecast step %s must be positive", in.StepLength)
	case !(in.ReplicaCapacity > 0) || math.IsInf(float64(in.ReplicaCapacity), 0):
		return fmt.Errorf("replica capacity %v must be a positive number", in.ReplicaCapacity)
	case in.Lead < 0 || in.Guard < 0 || in.Elapsed < 0:
		return fmt.Errorf("lead %s, guard %s and elapsed %s must not be negative", in.Lead, in.Guard, in.Elapsed)
	case in.NodeLead < 0:
		return fmt.Errorf("node lead %s must not be negative", in.NodeLead)
	case len(in.Forecast) < in.holdSteps():
		return fmt.Errorf("forecast covers %d steps, %s elapsed plus lead %s plus guard %s need %d",
			len(in.Forecast), in.Elapsed, in.Lead, in.Guard, in.holdSteps())
	case in.NodeLead > 0 && len(in.Forecast) < in.nodeSteps():
		return fmt.Errorf("forecast covers %d steps, %s elapsed plus node lead %s plus lead %s need %d",
			len(in.Forecast), in.Elapsed, in.NodeLead, in.Lead, in.nodeSteps())
	}
	for i, s := range in.Forecast {
		if !isDemand(s.Upper) {
			return fmt.Errorf("forecast step %d upper quantile %v is not a demand", i+1, s.Upper)
		}
	}
	if in.Peaks != nil && len(in.Peaks) != len(in.Forecast) {
		return fmt.Errorf("%d peak quantiles for %d forecast steps", len(in.Peaks), len(in.Forecast))
	}
	for i, p := range in.Peaks {
		if !isDemand(p) {
			return fmt.Errorf("peak quantile over %d steps %v is not a demand", i+1, p)
		}
	}
	return nil
}

// raiseSteps is how many forecast steps the floor must cover now: every
// step that begins before the replicas asked for now are Ready, Elapsed +
// Lead after the forecast's origin, and the step they become Ready in — the
// one they are asked for.
func (in Inputs) raiseSteps() int { return stepsThrough(in.Elapsed+in.Lead, in.StepLength) }

// holdSteps is how many forecast steps the floor must cover before it comes
// down: through the lead time and the guard window after it.
func (in Inputs) holdSteps() int { return stepsThrough(in.Elapsed+in.Lead+in.Guard, in.StepLength) }

// nodeSteps is how many forecast steps the replicas that need a new node
// must cover: through the node's start and the pod's after it.
func (in Inputs) nodeSteps() int { return stepsThrough(in.Elapsed+in.NodeLead+in.Lead, in.StepLength) }

// stepsThrough is the number of steps from the origin through the one that
// holds the instant d after it.
func stepsThrough(d, step time.Duration) int { return int(d/step) + 1 }

// ForecastSteps is how many forecast steps Decide reads for a fixed pool of
// nodes: through the lead time and the guard window, counted from the
// origin of a forecast made elapsed ago.
func ForecastSteps(step, elapsed, lead, guard time.Duration) int {
	return ForecastStepsWithNodes(step, elapsed, lead, guard, 0)
}

// ForecastStepsWithNodes is ForecastSteps where new nodes take nodeLead to
// be Ready: the forecast also runs through a node's start and the lead time
// after it.
func ForecastStepsWithNodes(step, elapsed, lead, guard, nodeLead time.Duration) int {
	return stepsThrough(elapsed+lead+max(guard, nodeLead), step)
}

// isDemand reports whether d is a demand: finite and not negative.
func isDemand(d PerMinute) bool {
	return !math.IsNaN(float64(d)) && !math.IsInf(float64(d), 0) && d >= 0
}

// peak is the demand quantile of the peak over the first n steps (Peaks),
// or else the largest per-step upper quantile.
func (in Inputs) peak(n int) PerMinute {
	if len(in.Peaks) >= n {
		return in.Peaks[n-1]
	}
	var peak PerMinute
	for _, s := range in.Forecast[:n] {
		peak = max(peak, s.Upper)
	}
	return peak
}

// drain is the extra rate that clears the backlog within one lead
// time (at least one step): requests already waiting are demand the
// forecast of arrivals does not hold.
func (in Inputs) drain() PerMinute {
	if !(in.Backlog > 0) || math.IsInf(in.Backlog, 0) {
		return 0
	}
	return PerMinute(in.Backlog / max(in.Lead, in.StepLength).Minutes())
}

// replicasFor is ⌈demand / capacity⌉, saturated at the int32 range.
func (in Inputs) replicasFor(demand PerMinute) int32 {
	r := math.Ceil(float64(demand/in.ReplicaCapacity) - 1e-9)
	if r > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(max(r, 0))
}
