package scaler

import (
	"fmt"
	"math"
	"time"
)

// PolicyType is the unit of a scaling policy's value.
type PolicyType string

// Policy types, as in autoscaling/v2.
const (
	PodsPolicy    PolicyType = "Pods"
	PercentPolicy PolicyType = "Percent"
)

// SelectPolicy chooses among several policies, as in autoscaling/v2.
type SelectPolicy string

// Select policies.
const (
	SelectMax      SelectPolicy = "Max"
	SelectMin      SelectPolicy = "Min"
	SelectDisabled SelectPolicy = "Disabled"
)

// Policy allows a change of Value pods or percent within PeriodSeconds.
type Policy struct {
	Type          PolicyType
	Value         int32
	PeriodSeconds int32
}

// Rules is one direction of an HPA behavior. A nil StabilizationWindowSeconds
// means the API default.
type Rules struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               SelectPolicy
	Policies                   []Policy
}

// Behavior mirrors the parts of autoscaling/v2 HorizontalPodAutoscalerBehavior
// prescaler writes. A nil direction means the API default for it; a nil
// *Behavior means the field is unset, which the HPA controller treats by its
// older rules (up to max(2×current, 4) per sync), not as the defaults.
type Behavior struct {
	ScaleUp   *Rules
	ScaleDown *Rules
}

// Equal reports whether two behaviors are the same, so a writer can skip a
// write that changes nothing.
func (b *Behavior) Equal(o *Behavior) bool {
	if b == nil || o == nil {
		return b == o
	}
	return rulesEqual(b.ScaleUp, o.ScaleUp) && rulesEqual(b.ScaleDown, o.ScaleDown)
}

func rulesEqual(a, b *Rules) bool {
	if a == nil || b == nil {
		return a == b
	}
	if (a.StabilizationWindowSeconds == nil) != (b.StabilizationWindowSeconds == nil) ||
		(a.StabilizationWindowSeconds != nil && *a.StabilizationWindowSeconds != *b.StabilizationWindowSeconds) ||
		a.SelectPolicy != b.SelectPolicy || len(a.Policies) != len(b.Policies) {
		return false
	}
	for i := range a.Policies {
		if a.Policies[i] != b.Policies[i] {
			return false
		}
	}
	return true
}

func (b *Behavior) String() string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprintf("up{%s} down{%s}", b.ScaleUp, b.ScaleDown)
}

func (r *Rules) String() string {
	if r == nil {
		return "default"
	}
	s := "stabilization="
	if r.StabilizationWindowSeconds == nil {
		s += "default"
	} else {
		s += fmt.Sprintf("%ds", *r.StabilizationWindowSeconds)
	}
	if r.SelectPolicy != "" {
		s += " select=" + string(r.SelectPolicy)
	}
	for _, p := range r.Policies {
		s += fmt.Sprintf(" %d%s/%ds", p.Value, map[PolicyType]string{PodsPolicy: "pods", PercentPolicy: "%"}[p.Type], p.PeriodSeconds)
	}
	return s
}

func seconds(v int32) *int32 { return &v }

// Upstream defaults (autoscaling/v2): scale-up adds max(100 %, 4 pods) per
// 15 s; scale-down stabilizes over 300 s.
const (
	defaultScaleUpPods            = 4
	policyPeriodSeconds           = 15
	defaultScaleDownStabilization = 300
)

// behavior plans the behavior to write for decision d: the user's own, with
// the scale-up direction opened ahead of a ramp, the scale-down
// stabilization stretched while demand is forecast to return, and, with
// Troughs, shortened in a trough: while the forecast over the lead time and
// the guard window needs fewer replicas than run, the HPA may let them go
// sooner (the floor still holds what the forecast needs). A direction the
// user disabled (selectPolicy Disabled) is never changed: prescaler then acts
// through the floor alone, which the HPA controller applies whatever the
// behavior says (a target below minReplicas is scaled to it before any
// behavior rule is read).
func (in Inputs) behavior(d *Decision, raise, hold int) *Behavior {
	rampDue := d.RampDue
	holdAt := in.replicasFor(in.peak(hold))
	returns := holdAt > in.replicasFor(in.peak(1))
	d.TroughDue = in.Troughs && !rampDue && !returns && in.CurrentReplicas > max(holdAt, in.UserMinReplicas)
	if !rampDue && !returns && !d.TroughDue {
		return in.UserBehavior
	}
	out := &Behavior{}
	if in.UserBehavior != nil {
		out.ScaleUp, out.ScaleDown = in.UserBehavior.ScaleUp, in.UserBehavior.ScaleDown
	}
	if rampDue {
		out.ScaleUp = openedScaleUp(out.ScaleUp, max(defaultScaleUpPods, in.rampPodsPerPeriod(raise)))
	}
	if returns {
		out.ScaleDown = stretchedScaleDown(out.ScaleDown, int32(in.Guard/time.Second))
	}
	if d.TroughDue {
		out.ScaleDown = troughScaleDown(out.ScaleDown, int32(in.Lead/time.Second))
	}
	return out
}

// troughScaleDown keeps the user's scale-down rules with their
// stabilization window cut to at most the lead time: the window protects
// replicas the HPA's metrics may want back soon, and the forecast says they
// will not be needed within the lead time and the guard window. The HPA
// still keeps the highest of its own recommendations over the lead time,
// which absorbs minute-to-minute noise the forecast's quantile does not. A
// user who disabled scale-down keeps it disabled.
func troughScaleDown(user *Rules, leadSeconds int32) *Rules {
	if disabled(user) {
		return user
	}
	return withScaleDownWindow(user, func(current int32) int32 { return min(current, leadSeconds) })
}

// openedScaleUp lets the HPA add pods as fast as the forecast ramp needs:
// no stabilization, and the most permissive of the user's own policies and
// prescaler's (100 % or the ramp's pods per 15 s), so a user whose policies
// were already faster keeps them. A user who disabled scale-up keeps it
// disabled: the HPA then adds no pods on its own metrics, and the raised
// floor is the only way up.
func openedScaleUp(user *Rules, rampPods int32) *Rules {
	if disabled(user) {
		return user
	}
	policies := []Policy{
		{Type: PercentPolicy, Value: 100, PeriodSeconds: policyPeriodSeconds},
		{Type: PodsPolicy, Value: rampPods, PeriodSeconds: policyPeriodSeconds},
	}
	if user != nil {
		policies = append(policies, user.Policies...)
	}
	return &Rules{StabilizationWindowSeconds: seconds(0), SelectPolicy: SelectMax, Policies: policies}
}

// disabled reports a direction the user switched off (selectPolicy Disabled).
func disabled(user *Rules) bool { return user != nil && user.SelectPolicy == SelectDisabled }

// rampPodsPerPeriod is the steepest rise of the replicas the forecast needs
// within the lead time, in pods per policy period.
func (in Inputs) rampPodsPerPeriod(raise int) int32 {
	var steepest PerMinute
	prev := in.Forecast[0].Upper
	for _, s := range in.Forecast[1:raise] {
		steepest = max(steepest, s.Upper-prev)
		prev = s.Upper
	}
	// The rise per step in replicas, spread over the step's seconds and
	// counted per policy period.
	perPeriod := float64(steepest/in.ReplicaCapacity) * policyPeriodSeconds / in.StepLength.Seconds()
	return int32(math.Min(math.Ceil(perPeriod), math.MaxInt32))
}

// stretchedScaleDown keeps the user's scale-down rules but makes their
// stabilization window at least guardSeconds. A user who disabled
// scale-down keeps the rules as written: the HPA removes no pods then, so a
// window would hold nothing.
func stretchedScaleDown(user *Rules, guardSeconds int32) *Rules {
	if disabled(user) {
		return user
	}
	return withScaleDownWindow(user, func(current int32) int32 { return max(current, guardSeconds) })
}

// withScaleDownWindow copies the user's scale-down rules (nil: the API
// defaults) with the stabilization window set by window from the one in
// force; the user's rules are not modified.
func withScaleDownWindow(user *Rules, window func(current int32) int32) *Rules {
	out := &Rules{}
	if user != nil {
		c := *user
		out = &c
	}
	current := int32(defaultScaleDownStabilization)
	if out.StabilizationWindowSeconds != nil {
		current = *out.StabilizationWindowSeconds
	}
	out.StabilizationWindowSeconds = seconds(window(current))
	return out
}
