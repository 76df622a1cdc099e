package hpa

import (
	"errors"
	"fmt"
	"math"

	"github.com/prescaler/prescaler/scaler"
)

// The policy vocabulary is the decision core's own (scaler mirrors the
// autoscaling/v2 types once, for the writer and for this simulator), so a
// behavior prescaler decides reaches the simulated controller unconverted.
type (
	// PolicyType is the unit of a scaling policy's value.
	PolicyType = scaler.PolicyType
	// SelectPolicy chooses among a direction's policies; "" means SelectMax.
	SelectPolicy = scaler.SelectPolicy
	// Policy allows a change of Value pods, or Value percent of the replicas
	// at the start of the period, within any PeriodSeconds-long window.
	Policy = scaler.Policy
)

// Policy types and select policies, as in autoscaling/v2.
const (
	PodsPolicy     = scaler.PodsPolicy
	PercentPolicy  = scaler.PercentPolicy
	SelectMax      = scaler.SelectMax
	SelectMin      = scaler.SelectMin
	SelectDisabled = scaler.SelectDisabled
)

// Rules is one direction (up or down) of an HPA behavior, mirroring
// autoscaling/v2 HPAScalingRules. Unset fields take the API defaults (see
// Behavior.WithDefaults).
type Rules struct {
	// StabilizationWindowSeconds: nil means the default (0 up; the
	// controller's --horizontal-pod-autoscaler-downscale-stabilization,
	// 300 s by default, down).
	StabilizationWindowSeconds *int32
	// SelectPolicy: "" means SelectMax.
	SelectPolicy SelectPolicy
	// Policies: empty means the default policies for the direction.
	Policies []Policy
	// Tolerance overrides the controller-wide tolerance for this direction
	// (KEP-4951, field behavior.scale{Up,Down}.tolerance); nil means the
	// controller's Config.Tolerance.
	Tolerance *float64
}

// Behavior mirrors autoscaling/v2 HorizontalPodAutoscalerBehavior.
type Behavior struct {
	ScaleUp   *Rules
	ScaleDown *Rules
}

// MetricSourceType says which of MetricSpec's sources is set.
type MetricSourceType string

// The metric sources this model supports.
const (
	PodsMetricSourceType     MetricSourceType = "Pods"
	ResourceMetricSourceType MetricSourceType = "Resource"
)

// PodsMetricSource is a per-pod custom metric (for example
// ai_request_queue_depth) with an AverageValue target: the controller aims at
// average(value over pods) == TargetAverageValue.
type PodsMetricSource struct {
	Name               string
	TargetAverageValue float64
}

// ResourceMetricSource is a container resource (cpu, memory…) with an
// AverageUtilization target in percent of the pods' requests, as the API
// stores it (70 means 70 %).
type ResourceMetricSource struct {
	Name                     string
	TargetAverageUtilization int32
}

// MetricSpec mirrors the autoscaling/v2 MetricSpec for the two sources the
// model supports; exactly the one named by Type must be set.
type MetricSpec struct {
	Type     MetricSourceType
	Pods     *PodsMetricSource
	Resource *ResourceMetricSource
}

// PodsMetric is a Pods metric spec with an AverageValue target.
func PodsMetric(name string, targetAverageValue float64) MetricSpec {
	return MetricSpec{Type: PodsMetricSourceType, Pods: &PodsMetricSource{Name: name, TargetAverageValue: targetAverageValue}}
}

// ResourceUtilization is a Resource metric spec with an AverageUtilization
// target in percent.
func ResourceUtilization(resource string, targetPercent int32) MetricSpec {
	return MetricSpec{Type: ResourceMetricSourceType, Resource: &ResourceMetricSource{Name: resource, TargetAverageUtilization: targetPercent}}
}

// Name is the metric's name (Pods) or resource name (Resource); it keys the
// samples in Input.Samples and appears in reasons ("metric <name>").
func (m MetricSpec) Name() string {
	switch {
	case m.Type == PodsMetricSourceType && m.Pods != nil:
		return m.Pods.Name
	case m.Type == ResourceMetricSourceType && m.Resource != nil:
		return m.Resource.Name
	}
	return ""
}

// Spec is the part of an HPA's spec the controller reads each sync.
type Spec struct {
	MinReplicas int32
	MaxReplicas int32
	Metrics     []MetricSpec
	// Behavior nil selects the controller's legacy normalization path
	// (scale-up limited to max(2×current, 4) per sync, no scale-down rate
	// limit, no scale-up stabilization), exactly as upstream does for an HPA
	// whose spec.behavior is absent. A non-nil Behavior, even an empty one,
	// is filled with the API defaults and uses policies and both windows.
	Behavior *Behavior
}

// Defaults that the API server and kube-controller-manager apply.
const (
	// DefaultMinReplicas is the API default for an unset spec.minReplicas.
	DefaultMinReplicas int32 = 1
	// DefaultCPUUtilization is the metric the API server adds to an HPA
	// with no metrics: cpu at 80 % of requests.
	DefaultCPUUtilization int32 = 80
	// DefaultDownscaleStabilizationSeconds is
	// --horizontal-pod-autoscaler-downscale-stabilization (5m).
	DefaultDownscaleStabilizationSeconds int32 = 300

	maxStabilizationWindowSeconds int32 = 3600
	maxPolicyPeriodSeconds        int32 = 1800
)

func int32Ptr(v int32) *int32 { return &v }

// defaultScaleUpRules are the API defaults for behavior.scaleUp: no
// stabilization; the larger of +4 pods and +100 % every 15 s.
func defaultScaleUpRules() Rules {
	return Rules{
		StabilizationWindowSeconds: int32Ptr(0),
		SelectPolicy:               SelectMax,
		Policies: []Policy{
			{Type: PodsPolicy, Value: 4, PeriodSeconds: 15},
			{Type: PercentPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// defaultScaleDownRules are the API defaults for behavior.scaleDown: −100 %
// every 15 s. The API leaves the window unset; the controller fills it from
// its --horizontal-pod-autoscaler-downscale-stabilization flag.
func defaultScaleDownRules() Rules {
	return Rules{
		SelectPolicy: SelectMax,
		Policies:     []Policy{{Type: PercentPolicy, Value: 100, PeriodSeconds: 15}},
	}
}

// DefaultBehavior is the behavior an HPA gets from the API defaults plus
// kube-controller-manager's default flags: scale up by max(4 pods, 100 %) per
// 15 s with no stabilization; scale down by up to 100 % per 15 s after a
// 300 s stabilization window.
func DefaultBehavior() Behavior {
	up, down := defaultScaleUpRules(), defaultScaleDownRules()
	down.StabilizationWindowSeconds = int32Ptr(DefaultDownscaleStabilizationSeconds)
	return Behavior{ScaleUp: &up, ScaleDown: &down}
}

// WithDefaults fills unset fields the way the API server does
// (SetDefaults_HorizontalPodAutoscalerBehavior): a nil direction becomes the
// default rules, and within a set direction each unset field takes the
// default. The scale-down window stays nil when unset, as in the API; the
// controller resolves it from Config.DownscaleStabilizationWindow. The
// receiver is not modified.
func (b Behavior) WithDefaults() Behavior {
	up := fillRules(b.ScaleUp, defaultScaleUpRules())
	down := fillRules(b.ScaleDown, defaultScaleDownRules())
	return Behavior{ScaleUp: &up, ScaleDown: &down}
}

// fillRules copies every set field of from over the defaults in to.
func fillRules(from *Rules, to Rules) Rules {
	if from == nil {
		return to
	}
	if from.StabilizationWindowSeconds != nil {
		to.StabilizationWindowSeconds = int32Ptr(*from.StabilizationWindowSeconds)
	}
	if from.SelectPolicy != "" {
		to.SelectPolicy = from.SelectPolicy
	}
	if len(from.Policies) > 0 {
		to.Policies = append([]Policy(nil), from.Policies...)
	}
	if from.Tolerance != nil {
		t := *from.Tolerance
		to.Tolerance = &t
	}
	return to
}

// WithDefaults returns the spec as the API server would store it: minReplicas
// 0 (unset; scale-to-zero is not modelled) becomes 1, no metrics becomes cpu
// at 80 %, and a non-nil Behavior is filled. A nil Behavior stays nil, as the
// API server leaves it. The receiver is not modified.
func (s Spec) WithDefaults() Spec {
	out := s
	if out.MinReplicas == 0 {
		out.MinReplicas = DefaultMinReplicas
	}
	if len(out.Metrics) == 0 {
		out.Metrics = []MetricSpec{ResourceUtilization("cpu", DefaultCPUUtilization)}
	}
	if s.Behavior != nil {
		b := s.Behavior.WithDefaults()
		out.Behavior = &b
	}
	return out
}

// Validate checks what the API server's validation would reject, so a
// simulation never runs a spec a real cluster would refuse. It checks the
// spec as given; call it on WithDefaults() to judge what would be stored.
func (s Spec) Validate() error {
	var errs []error
	if s.MinReplicas < 1 {
		errs = append(errs, fmt.Errorf("minReplicas: %d must be at least 1 (scale to zero is not modelled)", s.MinReplicas))
	}
	if s.MaxReplicas < s.MinReplicas {
		errs = append(errs, fmt.Errorf("maxReplicas: %d must be at least minReplicas %d", s.MaxReplicas, s.MinReplicas))
	}
	if len(s.Metrics) == 0 {
		errs = append(errs, errors.New("metrics: at least one metric is required"))
	}
	seen := make(map[string]bool, len(s.Metrics))
	for i, m := range s.Metrics {
		if err := m.validate(); err != nil {
			errs = append(errs, fmt.Errorf("metrics[%d]: %w", i, err))
			continue
		}
		if seen[m.Name()] {
			errs = append(errs, fmt.Errorf("metrics[%d]: name %q is used twice; samples are keyed by name", i, m.Name()))
		}
		seen[m.Name()] = true
	}
	if s.Behavior != nil {
		if err := s.Behavior.ScaleUp.validate(); err != nil {
			errs = append(errs, fmt.Errorf("behavior.scaleUp: %w", err))
		}
		if err := s.Behavior.ScaleDown.validate(); err != nil {
			errs = append(errs, fmt.Errorf("behavior.scaleDown: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (m MetricSpec) validate() error {
	switch m.Type {
	case PodsMetricSourceType:
		if m.Pods == nil || m.Resource != nil {
			return errors.New("type Pods needs Pods set and only Pods")
		}
		if m.Pods.Name == "" {
			return errors.New("pods.name is empty")
		}
		if !(m.Pods.TargetAverageValue > 0) || math.IsInf(m.Pods.TargetAverageValue, 0) {
			return fmt.Errorf("pods.target.averageValue: %v must be positive", m.Pods.TargetAverageValue)
		}
	case ResourceMetricSourceType:
		if m.Resource == nil || m.Pods != nil {
			return errors.New("type Resource needs Resource set and only Resource")
		}
		if m.Resource.Name == "" {
			return errors.New("resource.name is empty")
		}
		if m.Resource.TargetAverageUtilization <= 0 {
			return fmt.Errorf("resource.target.averageUtilization: %d must be positive", m.Resource.TargetAverageUtilization)
		}
	default:
		return fmt.Errorf("type: %q is not supported (Pods, Resource)", m.Type)
	}
	return nil
}

func (r *Rules) validate() error {
	if r == nil {
		return nil
	}
	var errs []error
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxStabilizationWindowSeconds) {
		errs = append(errs, fmt.Errorf("stabilizationWindowSeconds: %d must be within [0, %d]", *w, maxStabilizationWindowSeconds))
	}
	switch r.SelectPolicy {
	case "", SelectMax, SelectMin, SelectDisabled:
	default:
		errs = append(errs, fmt.Errorf("selectPolicy: %q must be Max, Min or Disabled", r.SelectPolicy))
	}
	for i, p := range r.Policies {
		if p.Type != PodsPolicy && p.Type != PercentPolicy {
			errs = append(errs, fmt.Errorf("policies[%d].type: %q must be Pods or Percent", i, p.Type))
		}
		if p.Value <= 0 {
			errs = append(errs, fmt.Errorf("policies[%d].value: %d must be positive", i, p.Value))
		}
		if p.PeriodSeconds <= 0 || p.PeriodSeconds > maxPolicyPeriodSeconds {
			errs = append(errs, fmt.Errorf("policies[%d].periodSeconds: %d must be within (0, %d]", i, p.PeriodSeconds, maxPolicyPeriodSeconds))
		}
	}
	if t := r.Tolerance; t != nil && (*t < 0 || math.IsNaN(*t) || math.IsInf(*t, 0)) {
		errs = append(errs, fmt.Errorf("tolerance: %v must be a non-negative number", *t))
	}
	return errors.Join(errs...)
}
