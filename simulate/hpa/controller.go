package hpa

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config holds kube-controller-manager's HPA flags that shape decisions.
type Config struct {
	// Tolerance is --horizontal-pod-autoscaler-tolerance: a usage ratio
	// within [1−Tolerance, 1+Tolerance] leaves replicas unchanged. A rule's
	// own Tolerance overrides it for that direction.
	Tolerance float64
	// CPUInitializationPeriod is
	// --horizontal-pod-autoscaler-cpu-initialization-period.
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is
	// --horizontal-pod-autoscaler-initial-readiness-delay.
	InitialReadinessDelay time.Duration
	// DownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization: the window of
	// the legacy path and of a behavior whose scale-down window is unset.
	DownscaleStabilizationWindow time.Duration
}

// DefaultConfig is kube-controller-manager's defaults.
func DefaultConfig() Config {
	return Config{
		Tolerance:                    0.1,
		CPUInitializationPeriod:      5 * time.Minute,
		InitialReadinessDelay:        30 * time.Second,
		DownscaleStabilizationWindow: time.Duration(DefaultDownscaleStabilizationSeconds) * time.Second,
	}
}

// Validate names the first bad field of each kind.
func (c Config) Validate() error {
	var errs []error
	if c.Tolerance < 0 || math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0) {
		errs = append(errs, fmt.Errorf("Tolerance: %v must be a non-negative number", c.Tolerance))
	}
	if c.CPUInitializationPeriod < 0 {
		errs = append(errs, fmt.Errorf("CPUInitializationPeriod: %v must not be negative", c.CPUInitializationPeriod))
	}
	if c.InitialReadinessDelay < 0 {
		errs = append(errs, fmt.Errorf("InitialReadinessDelay: %v must not be negative", c.InitialReadinessDelay))
	}
	if c.DownscaleStabilizationWindow < 0 {
		errs = append(errs, fmt.Errorf("DownscaleStabilizationWindow: %v must not be negative", c.DownscaleStabilizationWindow))
	}
	return errors.Join(errs...)
}

// Input is what one sync reads: the HPA spec (prescaler may have changed it
// since the last sync), the scale target's spec.replicas, and for each
// metric (keyed by MetricSpec.Name) the pods the selector matches with their
// values from the metrics pipeline.
type Input struct {
	Spec            Spec
	CurrentReplicas int32
	Samples         map[string][]PodSample
}

// Reasons a decision names. A metric-driven decision's reason is
// MetricReason(name).
const (
	ReasonMinReplicas     = "minReplicas"
	ReasonMaxReplicas     = "maxReplicas"
	ReasonScaleUpLimit    = "ScaleUpLimit"
	ReasonScaleDownLimit  = "ScaleDownLimit"
	ReasonStabilization   = "stabilization"
	ReasonScalingDisabled = "ScalingDisabled"
	ReasonFailedMetrics   = "FailedComputeMetricsReplicas"
	ReasonInvalidSpec     = "InvalidSpec"
)

// MetricReason is the reason of a decision a metric's proposal set.
func MetricReason(metric string) string { return "metric " + metric }

// Result is one sync's decision.
type Result struct {
	// DesiredReplicas is what the controller writes to the scale target's
	// spec.replicas (the current count when it does not rescale).
	DesiredReplicas int32
	// Reason names the step that settled DesiredReplicas: a metric, a
	// bound, a rate limit or stabilization; see the Reason constants.
	Reason string
	// Message says why in words, with the numbers.
	Message string
	// MetricReplicas is the largest metric proposal and Metric its metric;
	// -1 and "" when metrics were not consulted or all failed.
	MetricReplicas int32
	Metric         string
	// StabilizedReplicas is the recommendation after the stabilization
	// window(s), before rate limits and bounds; -1 when not computed.
	StabilizedReplicas int32
	// Proposals has one entry per spec metric, in spec order.
	Proposals []Proposal
}

// Controller models the HPA controller's decisions for one HPA, with the
// state upstream keeps per HPA between syncs: past recommendations for the
// stabilization windows and past scale events for the rate policies. It is
// not safe for concurrent use. Calls must come in non-decreasing now.
type Controller struct {
	cfg             Config
	recommendations []recommendation
	scaleUpEvents   []scaleEvent
	scaleDownEvents []scaleEvent
}

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change   int32 // replicas added (up) or removed (down), positive
	at       time.Time
	outdated bool
}

// New returns a controller with no history, as after an HPA is created or
// kube-controller-manager restarts.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hpa config: %w", err)
	}
	return &Controller{cfg: cfg}, nil
}

// Reconcile runs one sync at now, in upstream's order: record an initial
// recommendation, handle a target outside [min, max] or at zero, ask every
// metric for a proposal and take the largest, then normalize it (legacy path
// when Spec.Behavior is nil, behavior path otherwise: stabilization, then
// rate policies and bounds), and remember the scale event when replicas
// change.
func (c *Controller) Reconcile(now time.Time, in Input) Result {
	spec := in.Spec.WithDefaults()
	current := in.CurrentReplicas
	res := Result{DesiredReplicas: current, MetricReplicas: -1, StabilizedReplicas: -1}
	if err := spec.Validate(); err != nil {
		// The API server would have refused this spec; a real HPA keeps
		// running on the last one it accepted. The caller decides that.
		res.Reason, res.Message = ReasonInvalidSpec, err.Error()
		return res
	}
	c.recordInitialRecommendation(now, current)

	var desired int32
	switch {
	case current == 0:
		// minReplicas ≥ 1 here: a target scaled to zero by hand disables
		// autoscaling until something scales it back up.
		res.Reason, res.Message = ReasonScalingDisabled, "scaling is disabled since the replica count of the target is zero"
		return res
	case current > spec.MaxReplicas:
		desired = spec.MaxReplicas
		res.Reason = ReasonMaxReplicas
		res.Message = fmt.Sprintf("current replicas %d above maxReplicas %d", current, spec.MaxReplicas)
	case current < spec.MinReplicas:
		desired = spec.MinReplicas
		res.Reason = ReasonMinReplicas
		res.Message = fmt.Sprintf("current replicas %d below minReplicas %d", current, spec.MinReplicas)
	default:
		metricReplicas, metric, proposals, err := c.computeReplicasForMetrics(now, spec, current, in.Samples)
		res.Proposals = proposals
		if metricReplicas < 0 {
			res.Reason, res.Message = ReasonFailedMetrics, err.Error()
			return res
		}
		res.MetricReplicas, res.Metric = metricReplicas, metric
		desired = max(metricReplicas, 0)
		var n normalized
		if spec.Behavior == nil {
			n = c.normalizeLegacy(now, spec, current, desired)
		} else {
			n = c.normalizeWithBehavior(now, spec, current, desired)
		}
		res.StabilizedReplicas = n.stabilized
		res.Reason, res.Message = n.reason, n.message
		if n.reason == "" {
			res.Reason = MetricReason(metric)
			res.Message = describeProposal(proposals, metric, current)
		}
		if err != nil {
			res.Message += fmt.Sprintf(" (%v)", err)
		}
		desired = n.replicas
	}

	if desired != current {
		c.storeScaleEvent(now, spec.Behavior, current, desired)
	}
	res.DesiredReplicas = desired
	return res
}

// recordInitialRecommendation seeds the history with the current replicas on
// the first sync, so a fresh controller cannot scale down before a full
// stabilization window has passed.
func (c *Controller) recordInitialRecommendation(now time.Time, current int32) {
	if c.recommendations == nil {
		c.recommendations = []recommendation{{current, now}}
	}
}

// computeReplicasForMetrics asks every metric for a proposal and returns the
// largest. It returns -1 when every metric failed, or when some failed and
// the others would scale down: upstream never scales down on partial data.
// With partial failures and no scale-down, the error is returned alongside.
func (c *Controller) computeReplicasForMetrics(now time.Time, spec Spec, current int32, samples map[string][]PodSample) (int32, string, []Proposal, error) {
	params := calcParams{
		now:                   now,
		current:               current,
		tol:                   c.tolerancesFor(spec.Behavior),
		cpuInitPeriod:         c.cfg.CPUInitializationPeriod,
		initialReadinessDelay: c.cfg.InitialReadinessDelay,
	}
	proposals := make([]Proposal, len(spec.Metrics))
	var (
		replicas int32
		metric   string
		invalid  int
		firstErr error
	)
	for i, m := range spec.Metrics {
		var p Proposal
		switch m.Type {
		case PodsMetricSourceType:
			p = podsMetricReplicas(*m.Pods, samples[m.Name()], params)
		case ResourceMetricSourceType:
			p = resourceUtilizationReplicas(*m.Resource, samples[m.Name()], params)
		}
		proposals[i] = p
		if p.Err != nil {
			if invalid == 0 {
				firstErr = fmt.Errorf("metric %s: %w", p.Metric, p.Err)
			}
			invalid++
			continue
		}
		if replicas == 0 || p.Replicas > replicas {
			replicas, metric = p.Replicas, p.Metric
		}
	}
	if invalid > 0 {
		err := fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", invalid, len(spec.Metrics), firstErr)
		if invalid >= len(spec.Metrics) || replicas < current {
			return -1, "", proposals, err
		}
		return replicas, metric, proposals, err
	}
	return replicas, metric, proposals, nil
}

// tolerancesFor applies each direction's own tolerance over the
// controller-wide one.
func (c *Controller) tolerancesFor(b *Behavior) tolerances {
	t := tolerances{down: c.cfg.Tolerance, up: c.cfg.Tolerance}
	if b == nil {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = *b.ScaleDown.Tolerance
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = *b.ScaleUp.Tolerance
	}
	return t
}

// normalized is a normalization's outcome. An empty reason means the metric
// proposal went through unchanged.
type normalized struct {
	replicas, stabilized int32
	reason, message      string
}

// normalizeLegacy is upstream's path for an HPA without spec.behavior: the
// highest recommendation within the controller's downscale window, then
// [minReplicas, min(maxReplicas, max(2×current, 4))].
func (c *Controller) normalizeLegacy(now time.Time, spec Spec, current, desired int32) normalized {
	stabilized := c.stabilizeLegacy(now, desired)
	n := normalized{stabilized: stabilized, replicas: stabilized}
	if stabilized != desired {
		n.reason = ReasonStabilization
		n.message = fmt.Sprintf("ScaleDownStabilized: the highest recommendation of the last %v is %d (metrics want %d)",
			c.cfg.DownscaleStabilizationWindow, stabilized, desired)
	}
	// Guard against a bogus usage spike: at most double, or 4, per sync.
	scaleUpLimit := int32(math.Max(2*float64(current), 4))
	switch {
	case stabilized < spec.MinReplicas:
		n.replicas = spec.MinReplicas
		n.reason = ReasonMinReplicas
		n.message = fmt.Sprintf("recommendation %d is below minReplicas %d", stabilized, spec.MinReplicas)
	case stabilized > min(spec.MaxReplicas, scaleUpLimit):
		if spec.MaxReplicas > scaleUpLimit {
			n.replicas = scaleUpLimit
			n.reason = ReasonScaleUpLimit
			n.message = fmt.Sprintf("recommendation %d limited to max(2×%d, 4) = %d per sync (no behavior set)", stabilized, current, scaleUpLimit)
		} else {
			n.replicas = spec.MaxReplicas
			n.reason = ReasonMaxReplicas
			n.message = fmt.Sprintf("recommendation %d capped at maxReplicas %d", stabilized, spec.MaxReplicas)
		}
	}
	return n
}

// stabilizeLegacy returns the highest recommendation no older than the
// downscale window (the boundary included, unlike the behavior path), and
// records desired in place of one expired entry.
func (c *Controller) stabilizeLegacy(now time.Time, desired int32) int32 {
	cutoff := now.Add(-c.cfg.DownscaleStabilizationWindow)
	highest, old := desired, -1
	for i, r := range c.recommendations {
		if r.at.Before(cutoff) {
			old = i
		} else if r.replicas > highest {
			highest = r.replicas
		}
	}
	c.record(old, recommendation{desired, now})
	return highest
}

// record stores a recommendation over the expired entry at old, or appends
// it, as upstream does, so the history stays about one window long.
func (c *Controller) record(old int, r recommendation) {
	if old >= 0 {
		c.recommendations[old] = r
		return
	}
	c.recommendations = append(c.recommendations, r)
}

// normalizeWithBehavior is upstream's normalizeDesiredReplicasWithBehaviors:
// stabilize, then limit the rate and apply the bounds.
func (c *Controller) normalizeWithBehavior(now time.Time, spec Spec, current, desired int32) normalized {
	up, down := *spec.Behavior.ScaleUp, *spec.Behavior.ScaleDown
	upWindow := time.Duration(*up.StabilizationWindowSeconds) * time.Second
	downWindow := c.cfg.DownscaleStabilizationWindow
	if down.StabilizationWindowSeconds != nil {
		downWindow = time.Duration(*down.StabilizationWindowSeconds) * time.Second
	}
	stabilized := c.stabilizeWithBehavior(now, current, desired, upWindow, downWindow)
	n := normalized{stabilized: stabilized, replicas: stabilized}
	if stabilized != desired {
		n.reason = ReasonStabilization
		if desired >= current {
			n.message = fmt.Sprintf("ScaleUpStabilized: the lowest recommendation of the last %v is %d (metrics want %d)", upWindow, stabilized, desired)
		} else {
			n.message = fmt.Sprintf("ScaleDownStabilized: the highest recommendation of the last %v is %d (metrics want %d)", downWindow, stabilized, desired)
		}
	}

	switch {
	case stabilized > current:
		limit := scaleUpLimit(now, current, c.scaleUpEvents, c.scaleDownEvents, up)
		// Recent scale-ups can put the limit below current: hold, never
		// shrink, until they age out.
		limit = max(limit, current)
		if stabilized > min(spec.MaxReplicas, limit) {
			if spec.MaxReplicas > limit {
				n.replicas = limit
				n.reason = ReasonScaleUpLimit
				n.message = fmt.Sprintf("recommendation %d limited to %d by scale-up policies (%s)", stabilized, limit, describeRules(up))
			} else {
				n.replicas = spec.MaxReplicas
				n.reason = ReasonMaxReplicas
				n.message = fmt.Sprintf("recommendation %d capped at maxReplicas %d", stabilized, spec.MaxReplicas)
			}
		}
	case stabilized < current:
		limit := scaleDownLimit(now, current, c.scaleUpEvents, c.scaleDownEvents, down)
		limit = min(limit, current)
		if stabilized < max(spec.MinReplicas, limit) {
			if spec.MinReplicas < limit {
				n.replicas = limit
				n.reason = ReasonScaleDownLimit
				n.message = fmt.Sprintf("recommendation %d limited to %d by scale-down policies (%s)", stabilized, limit, describeRules(down))
			} else {
				n.replicas = spec.MinReplicas
				n.reason = ReasonMinReplicas
				n.message = fmt.Sprintf("recommendation %d is below minReplicas %d", stabilized, spec.MinReplicas)
			}
		}
	}
	return n
}

// stabilizeWithBehavior bounds the recommendation by the history: it may
// rise only to the lowest recommendation within the scale-up window and fall
// only to the highest within the scale-down window, both windows including
// desired itself and excluding their exact boundary. Starting from current,
// the result moves toward desired only as far as both bounds allow.
func (c *Controller) stabilizeWithBehavior(now time.Time, current, desired int32, upWindow, downWindow time.Duration) int32 {
	upCutoff, downCutoff := now.Add(-upWindow), now.Add(-downWindow)
	upBound, downBound := desired, desired
	old := -1
	for i, r := range c.recommendations {
		if r.at.After(upCutoff) {
			upBound = min(upBound, r.replicas)
		}
		if r.at.After(downCutoff) {
			downBound = max(downBound, r.replicas)
		}
		if r.at.Before(upCutoff) && r.at.Before(downCutoff) {
			old = i
		}
	}
	out := current
	if out < upBound {
		out = upBound
	}
	if out > downBound {
		out = downBound
	}
	c.record(old, recommendation{desired, now})
	return out
}

// changeInPeriod sums the changes of the events strictly newer than
// period ago: an event exactly one period old no longer counts.
func changeInPeriod(now time.Time, periodSeconds int32, events []scaleEvent) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) {
			sum += e.change
		}
	}
	return sum
}

// scaleUpLimit is the most replicas the scale-up policies allow now. Each
// policy measures from the replica count at the start of its period
// (current minus what was added plus what was removed within it); Max picks
// the most permissive policy, Min the least, Disabled allows no increase.
func scaleUpLimit(now time.Time, current int32, upEvents, downEvents []scaleEvent, r Rules) int32 {
	if r.SelectPolicy == SelectDisabled {
		return current
	}
	pick, result := maxInt32, int32(math.MinInt32)
	if r.SelectPolicy == SelectMin {
		pick, result = minInt32, math.MaxInt32
	}
	for _, p := range r.Policies {
		start := current - changeInPeriod(now, p.PeriodSeconds, upEvents) + changeInPeriod(now, p.PeriodSeconds, downEvents)
		var proposed int32
		switch p.Type {
		case PodsPolicy:
			proposed = start + p.Value
		case PercentPolicy:
			// Rounded up so that a small percentage still adds a pod.
			// Upstream computes in float64, so e.g. 50 × 1.1 gives 56.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the scale-down policies allow now;
// Max picks the policy removing most, Min the one removing least.
func scaleDownLimit(now time.Time, current int32, upEvents, downEvents []scaleEvent, r Rules) int32 {
	if r.SelectPolicy == SelectDisabled {
		return current
	}
	pick, result := minInt32, int32(math.MaxInt32)
	if r.SelectPolicy == SelectMin {
		pick, result = maxInt32, math.MinInt32
	}
	for _, p := range r.Policies {
		start := current - changeInPeriod(now, p.PeriodSeconds, upEvents) + changeInPeriod(now, p.PeriodSeconds, downEvents)
		var proposed int32
		switch p.Type {
		case PodsPolicy:
			proposed = start - p.Value
		case PercentPolicy:
			// Truncated, as upstream's float64-to-int32 conversion.
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

func minInt32(a, b int32) int32 { return min(a, b) }
func maxInt32(a, b int32) int32 { return max(a, b) }

// storeScaleEvent remembers a rescale for the rate policies, only when the
// HPA has a behavior (the legacy path has no rate policies). An event older
// than the direction's longest policy period is overwritten rather than a
// new one appended.
func (c *Controller) storeScaleEvent(now time.Time, b *Behavior, prev, next int32) {
	if b == nil {
		return
	}
	events, rules, change := &c.scaleDownEvents, b.ScaleDown, prev-next
	if next > prev {
		events, rules, change = &c.scaleUpEvents, b.ScaleUp, next-prev
	}
	var longest int32
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	cutoff := now.Add(-time.Duration(longest) * time.Second)
	old := -1
	for i := range *events {
		if (*events)[i].at.Before(cutoff) {
			(*events)[i].outdated = true
		}
		if (*events)[i].outdated {
			old = i
		}
	}
	e := scaleEvent{change: change, at: now}
	if old >= 0 {
		(*events)[old] = e
		return
	}
	*events = append(*events, e)
}

// describeProposal explains the winning metric's proposal.
func describeProposal(proposals []Proposal, metric string, current int32) string {
	for _, p := range proposals {
		if p.Err != nil || p.Metric != metric {
			continue
		}
		if p.WithinTolerance {
			return fmt.Sprintf("%s: usage ratio %.3f within tolerance, keeping %d", p.Metric, p.UsageRatio, current)
		}
		return fmt.Sprintf("%s: usage ratio %.3f over %d ready pods (%d unready, %d missing) proposes %d", p.Metric, p.UsageRatio, p.Ready, p.Unready, p.Missing, p.Replicas)
	}
	return ""
}

// describeRules lists a direction's policies, e.g. "Max of 4 Pods/15s, 100 Percent/15s".
func describeRules(r Rules) string {
	if r.SelectPolicy == SelectDisabled {
		return "Disabled"
	}
	parts := make([]string, len(r.Policies))
	for i, p := range r.Policies {
		parts[i] = fmt.Sprintf("%d %s/%ds", p.Value, p.Type, p.PeriodSeconds)
	}
	return fmt.Sprintf("%s of %s", r.SelectPolicy, strings.Join(parts, ", "))
}
