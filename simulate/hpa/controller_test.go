package hpa

import (
	"strings"
	"testing"
)

// step is one sync: at seconds after t0, with the target at current
// replicas and the queue depths (or other samples) the pods report.
type step struct {
	at      int
	current int32
	samples map[string][]PodSample
	want    int32
	reason  string
}

// q is a sample set for the queue metric alone.
func q(values ...float64) map[string][]PodSample {
	return map[string][]PodSample{queueMetric: queue(values...)}
}

// runSteps drives one controller through the steps and checks each result.
func runSteps(t *testing.T, spec Spec, steps []step) {
	t.Helper()
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		got := c.Reconcile(at(s.at), Input{Spec: spec, CurrentReplicas: s.current, Samples: s.samples})
		if got.DesiredReplicas != s.want || got.Reason != s.reason {
			t.Fatalf("t=%ds current=%d: got %d (%s: %s), want %d (%s)", s.at, s.current, got.DesiredReplicas, got.Reason, got.Message, s.want, s.reason)
		}
	}
}

var queueReason = MetricReason(queueMetric)

// Every case is worked by hand from upstream's reconcileAutoscaler,
// stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate
// and the legacy normalizeDesiredReplicas; the queue target is 5 per pod.
func TestReconcile(t *testing.T) {
	defaults := behavior(Behavior{}) // filled with the API defaults
	queueAndCPU := func(b *Behavior) Spec {
		s := queueSpec(1, 20, b)
		s.Metrics = append(s.Metrics, ResourceUtilization("cpu", 70))
		return s
	}
	tests := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{
			// queue 6000/5000 = 1.2 → ceil(4.8) = 5; cpu 100 %/70 = 1.4286 →
			// ceil(5.71) = 6; max → 6. Scale-up limit max(4+4, 4×2) = 8.
			name: "two metrics take the max",
			spec: queueAndCPU(defaults),
			steps: []step{{at: 0, current: 4, want: 6, reason: MetricReason("cpu"),
				samples: map[string][]PodSample{queueMetric: queue(same(4, 6)...), "cpu": cpuPods(same(4, 1)...)}}},
		},
		{
			// current 2 < minReplicas 10 → 10 at once; the default rate
			// (max(2+4, 2×2) = 6) does not apply to this bound.
			name: "minReplicas raises desired immediately",
			spec: queueSpec(10, 20, defaults),
			steps: []step{
				{at: 0, current: 2, samples: q(5, 5), want: 10, reason: ReasonMinReplicas},
				{at: 15, current: 10, samples: q(same(10, 5)...), want: 10, reason: queueReason},
			},
		},
		{
			// Scale-up policy 2 pods / 60 s. t0: 2 < min 6 → 6, an event +4.
			// t15: 6 pods at 10 → ratio 2 → 12; the +4 is within 60 s → period
			// start 6−4 = 2 → limit 2+2 = 4, raised to current 6 → hold.
			// t60: the event is exactly 60 s old → forgotten → start 6 → 8.
			name: "a minReplicas raise uses up the scale-up budget",
			spec: queueSpec(6, 20, behavior(Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PodsPolicy, Value: 2, PeriodSeconds: 60}}}})),
			steps: []step{
				{at: 0, current: 2, samples: q(5, 5), want: 6, reason: ReasonMinReplicas},
				{at: 15, current: 6, samples: q(same(6, 10)...), want: 6, reason: ReasonScaleUpLimit},
				{at: 60, current: 6, samples: q(same(6, 10)...), want: 8, reason: ReasonScaleUpLimit},
			},
		},
		{
			// ratio 1000/5000 = 0.2 → ceil(0.2×5) = 1; scale-down window 0 →
			// stabilized 1; 100 %/15 s allows 0; max(minReplicas 3, 0) = 3.
			name:  "a metric below minReplicas is clamped to it",
			spec:  queueSpec(3, 10, behavior(Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: i32(0)}})),
			steps: []step{{at: 0, current: 5, samples: q(same(5, 1)...), want: 3, reason: ReasonMinReplicas}},
		},
		{
			// ratio 2 → 16; rate limit max(8+4, 8×2) = 16; maxReplicas 10 ≤ 16 → 10.
			name:  "maxReplicas caps the metric",
			spec:  queueSpec(1, 10, defaults),
			steps: []step{{at: 0, current: 8, samples: q(same(8, 10)...), want: 10, reason: ReasonMaxReplicas}},
		},
		{
			// current 12 > max 10 → 10, no stabilization or policy involved.
			name:  "current above maxReplicas comes down at once",
			spec:  queueSpec(1, 10, defaults),
			steps: []step{{at: 0, current: 12, samples: q(same(12, 5)...), want: 10, reason: ReasonMaxReplicas}},
		},
		{
			// t0: 1 pod at 50 → ratio 10 → 10; limit max(1+4, ceil(1×2)) = 5.
			// t15: the +4 is exactly 15 s old → forgotten → start 5;
			// ratio 2 → 10 ≤ max(9, 10) → 10. t30: start 10 → max(14, 20) = 20.
			name: "default scale-up from one replica allows 5 then doubles each sync",
			spec: queueSpec(1, 50, defaults),
			steps: []step{
				{at: 0, current: 1, samples: q(50), want: 5, reason: ReasonScaleUpLimit},
				{at: 15, current: 5, samples: q(same(5, 10)...), want: 10, reason: queueReason},
				{at: 30, current: 10, samples: q(same(10, 20)...), want: 20, reason: ReasonScaleUpLimit},
			},
		},
		{
			// No behavior → legacy path: limit max(2×1, 4) = 4, then
			// max(2×4, 4) = 8 — not the 5 and 10 of the default behavior.
			name: "without behavior the legacy limit max(2 x current, 4) applies",
			spec: queueSpec(1, 50, nil),
			steps: []step{
				{at: 0, current: 1, samples: q(50), want: 4, reason: ReasonScaleUpLimit},
				{at: 15, current: 4, samples: q(same(4, 12.5)...), want: 8, reason: ReasonScaleUpLimit},
			},
		},
		{
			// Pods 2 / 60 s. t0: ratio 5 → 10; start 2 → 4 (event +2 at 0).
			// t15, t45: start 4−2 = 2 → 4 → hold. t60: the event is exactly
			// 60 s old → start 4 → 6 (event +2 at 60). t75: 6 pods at 8 →
			// 1.6 → ceil(9.6) = 10; start 6−2 = 4 → 6 → hold.
			name: "a Pods policy of 2 per 60 s limits successive syncs",
			spec: queueSpec(1, 20, behavior(Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PodsPolicy, Value: 2, PeriodSeconds: 60}}}})),
			steps: []step{
				{at: 0, current: 2, samples: q(25, 25), want: 4, reason: ReasonScaleUpLimit},
				{at: 15, current: 4, samples: q(same(4, 12.5)...), want: 4, reason: ReasonScaleUpLimit},
				{at: 45, current: 4, samples: q(same(4, 12.5)...), want: 4, reason: ReasonScaleUpLimit},
				{at: 60, current: 4, samples: q(same(4, 12.5)...), want: 6, reason: ReasonScaleUpLimit},
				{at: 75, current: 6, samples: q(same(6, 8)...), want: 6, reason: ReasonScaleUpLimit},
			},
		},
		{
			// Percent 50 / 60 s. t0: ratio 5 → 20; ceil(4×1.5) = 6. t15: start
			// 6−2 = 4 → 6 → hold. t60: start 6 → ceil(6×1.5) = 9.
			name: "a Percent policy limits by the replicas at the period start",
			spec: queueSpec(1, 30, behavior(Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PercentPolicy, Value: 50, PeriodSeconds: 60}}}})),
			steps: []step{
				{at: 0, current: 4, samples: q(same(4, 25)...), want: 6, reason: ReasonScaleUpLimit},
				{at: 15, current: 6, samples: q(same(6, 20)...), want: 6, reason: ReasonScaleUpLimit},
				{at: 60, current: 6, samples: q(same(6, 20)...), want: 9, reason: ReasonScaleUpLimit},
			},
		},
		{
			// ratio 1.6 → 80; ceil(50 × (1 + 10/100)) in float64 is
			// ceil(55.000000000000007) = 56, not 55.
			name:  "a Percent policy keeps upstream's float rounding",
			spec:  queueSpec(1, 100, behavior(Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PercentPolicy, Value: 10, PeriodSeconds: 15}}}})),
			steps: []step{{at: 0, current: 50, samples: q(same(50, 8)...), want: 56, reason: ReasonScaleUpLimit}},
		},
		{
			// ratio 3 → 30; default policies give 10+4 = 14 and 10×2 = 20;
			// Min picks 14.
			name:  "selectPolicy Min picks the smaller scale-up",
			spec:  queueSpec(1, 50, behavior(Behavior{ScaleUp: &Rules{SelectPolicy: SelectMin}})),
			steps: []step{{at: 0, current: 10, samples: q(same(10, 15)...), want: 14, reason: ReasonScaleUpLimit}},
		},
		{
			// ratio 3 → 30; Disabled → limit = current 10.
			name:  "selectPolicy Disabled blocks scale-up",
			spec:  queueSpec(1, 50, behavior(Behavior{ScaleUp: &Rules{SelectPolicy: SelectDisabled}})),
			steps: []step{{at: 0, current: 10, samples: q(same(10, 15)...), want: 10, reason: ReasonScaleUpLimit}},
		},
		{
			// ratio 0.2 → 2; window 0; Disabled → limit = current 10.
			name:  "selectPolicy Disabled blocks scale-down",
			spec:  queueSpec(1, 50, behavior(Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: i32(0), SelectPolicy: SelectDisabled}})),
			steps: []step{{at: 0, current: 10, samples: q(same(10, 1)...), want: 10, reason: ReasonScaleDownLimit}},
		},
		{
			// ratio 0.2 → 2; Pods 2/60 s allows 10−2 = 8, Percent 50/60 s
			// allows int(10×0.5) = 5; Min (the smaller change) keeps 8. t30:
			// start 8+2 = 10 again → 8 → hold.
			name: "selectPolicy Min on scale-down removes the least",
			spec: queueSpec(1, 50, behavior(Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: i32(0), SelectPolicy: SelectMin,
				Policies: []Policy{{Type: PodsPolicy, Value: 2, PeriodSeconds: 60}, {Type: PercentPolicy, Value: 50, PeriodSeconds: 60}}}})),
			steps: []step{
				{at: 0, current: 10, samples: q(same(10, 1)...), want: 8, reason: ReasonScaleDownLimit},
				{at: 30, current: 8, samples: q(same(8, 1)...), want: 8, reason: ReasonScaleDownLimit},
			},
		},
		{
			// Window (now−300 s, now]. t0: 10 (ratio 1). t15: 4 and t30: 7 are
			// held at 10 by the 10s at t0. t285: t0 still inside → 10. t300: t0
			// is exactly 300 s old → out; highest left is 7 (t30) → 7. t330: t30
			// is out; 4 (t285), 4 (t300), and 7 pods at 2.5 → ceil(3.5) = 4 → 4.
			name: "scale-down stabilization keeps the highest recommendation for 300 s",
			spec: queueSpec(1, 20, defaults),
			steps: []step{
				{at: 0, current: 10, samples: q(same(10, 5)...), want: 10, reason: queueReason},
				{at: 15, current: 10, samples: q(same(10, 2)...), want: 10, reason: ReasonStabilization},
				{at: 30, current: 10, samples: q(same(10, 3.5)...), want: 10, reason: ReasonStabilization},
				{at: 285, current: 10, samples: q(same(10, 2)...), want: 10, reason: ReasonStabilization},
				{at: 300, current: 10, samples: q(same(10, 2)...), want: 7, reason: ReasonStabilization},
				{at: 330, current: 7, samples: q(same(7, 2.5)...), want: 4, reason: queueReason},
			},
		},
		{
			// A fresh controller seeds its history with the current 10 at t0,
			// so even the first sync cannot scale down: ratio 0.4 → 4, held.
			name: "a new controller does not scale down before a window has passed",
			spec: queueSpec(1, 20, defaults),
			steps: []step{
				{at: 0, current: 10, samples: q(same(10, 2)...), want: 10, reason: ReasonStabilization},
				{at: 300, current: 10, samples: q(same(10, 2)...), want: 4, reason: queueReason},
			},
		},
		{
			// Legacy path: its window [now−300 s, now] includes the boundary,
			// so the 10 at t0 still holds at t300; at t315 → 4, with no
			// scale-down rate limit.
			name: "without behavior the stabilization window includes its boundary",
			spec: queueSpec(1, 20, nil),
			steps: []step{
				{at: 0, current: 10, samples: q(same(10, 5)...), want: 10, reason: queueReason},
				{at: 300, current: 10, samples: q(same(10, 2)...), want: 10, reason: ReasonStabilization},
				{at: 315, current: 10, samples: q(same(10, 2)...), want: 4, reason: queueReason},
			},
		},
		{
			// Scale-up window 60 s. t0: ratio 3 → 6, but the seeded 2 at t0 is
			// the lowest in the window → 2. t30: still 2. t60: the t0 entries
			// are exactly 60 s old → out; lowest is 6 (t30) → 6, which the
			// default rate allows (max(2+4, 4)).
			name: "scale-up stabilization applies the lowest recent recommendation",
			spec: queueSpec(1, 20, behavior(Behavior{ScaleUp: &Rules{StabilizationWindowSeconds: i32(60)}})),
			steps: []step{
				{at: 0, current: 2, samples: q(15, 15), want: 2, reason: ReasonStabilization},
				{at: 30, current: 2, samples: q(15, 15), want: 2, reason: ReasonStabilization},
				{at: 60, current: 2, samples: q(15, 15), want: 6, reason: queueReason},
			},
		},
		{
			// ratio 1.2 is inside a scale-up tolerance of 0.3 → keep 4.
			name:  "a scale-up tolerance of its own",
			spec:  queueSpec(1, 20, behavior(Behavior{ScaleUp: &Rules{Tolerance: f64(0.3)}})),
			steps: []step{{at: 0, current: 4, samples: q(same(4, 6)...), want: 4, reason: queueReason}},
		},
		{
			name:  "no samples for any metric holds",
			spec:  queueSpec(1, 20, defaults),
			steps: []step{{at: 0, current: 4, samples: nil, want: 4, reason: ReasonFailedMetrics}},
		},
		{
			// queue → ceil(0.2×4) = 1 < 4 while cpu failed → upstream refuses
			// to scale down on partial data.
			name:  "a failed metric blocks a scale-down",
			spec:  queueAndCPU(behavior(Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: i32(0)}})),
			steps: []step{{at: 0, current: 4, samples: q(same(4, 1)...), want: 4, reason: ReasonFailedMetrics}},
		},
		{
			// queue → ratio 2 → 8 while cpu failed → the scale-up proceeds.
			name:  "a failed metric does not block a scale-up",
			spec:  queueAndCPU(defaults),
			steps: []step{{at: 0, current: 4, samples: q(same(4, 10)...), want: 8, reason: queueReason}},
		},
		{
			name:  "a target at zero replicas disables scaling",
			spec:  queueSpec(1, 20, defaults),
			steps: []step{{at: 0, current: 0, samples: q(), want: 0, reason: ReasonScalingDisabled}},
		},
		{
			name:  "an invalid spec changes nothing",
			spec:  queueSpec(5, 3, defaults),
			steps: []step{{at: 0, current: 4, samples: q(same(4, 10)...), want: 4, reason: ReasonInvalidSpec}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.spec, tt.steps) })
	}
}

// The spec may change between syncs (prescaler writes it): a later sync sees
// the new minReplicas and behavior, with the history kept.
func TestReconcileFollowsSpecChanges(t *testing.T) {
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	steady := queueSpec(2, 20, behavior(Behavior{}))
	raised := queueSpec(8, 20, behavior(Behavior{}))
	lowered := queueSpec(2, 20, behavior(Behavior{}))
	steps := []struct {
		at      int
		spec    Spec
		current int32
		samples map[string][]PodSample
		want    int32
		reason  string
	}{
		// Steady at 2 (ratio 1).
		{at: 0, spec: steady, current: 2, samples: q(5, 5), want: 2, reason: queueReason},
		// prescaler raises minReplicas ahead of a spike: 2 < 8 → 8.
		{at: 15, spec: raised, current: 2, samples: q(5, 5), want: 8, reason: ReasonMinReplicas},
		// Quiet: 8 pods at 1 → ceil(0.2×8) = 2 → clamped to 8.
		{at: 30, spec: raised, current: 8, samples: q(same(8, 1)...), want: 8, reason: ReasonMinReplicas},
		// minReplicas back to 2: the recommendations of t0–t30 (2, 2, 2 plus
		// the seeded 2) are all 2, so nothing holds the scale-down → 2.
		{at: 45, spec: lowered, current: 8, samples: q(same(8, 1)...), want: 2, reason: queueReason},
	}
	for _, s := range steps {
		got := c.Reconcile(at(s.at), Input{Spec: s.spec, CurrentReplicas: s.current, Samples: s.samples})
		if got.DesiredReplicas != s.want || got.Reason != s.reason {
			t.Fatalf("t=%ds: got %d (%s: %s), want %d (%s)", s.at, got.DesiredReplicas, got.Reason, got.Message, s.want, s.reason)
		}
	}
}

// A Result carries every stage: proposals, the metric maximum, the
// stabilized value and a message with the numbers.
func TestReconcileReportsEveryStage(t *testing.T) {
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// 1 pod at 50 → ratio 10 → 10; stabilized 10; limited to 5.
	got := c.Reconcile(t0, Input{Spec: queueSpec(1, 50, behavior(Behavior{})), CurrentReplicas: 1, Samples: q(50)})
	if got.MetricReplicas != 10 || got.Metric != queueMetric || got.StabilizedReplicas != 10 || got.DesiredReplicas != 5 {
		t.Errorf("metric %d (%s), stabilized %d, desired %d; want 10 (%s), 10, 5", got.MetricReplicas, got.Metric, got.StabilizedReplicas, got.DesiredReplicas, queueMetric)
	}
	if len(got.Proposals) != 1 || got.Proposals[0].UsageRatio != 10 || got.Proposals[0].Current != 50 {
		t.Errorf("proposals = %+v, want one with ratio 10 and current 50", got.Proposals)
	}
	for _, part := range []string{"10", "5", "4 Pods/15s", "100 Percent/15s"} {
		if !strings.Contains(got.Message, part) {
			t.Errorf("message %q lacks %q", got.Message, part)
		}
	}
}

func TestReconcileLeavesInputUnchanged(t *testing.T) {
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	b := &Behavior{ScaleUp: &Rules{SelectPolicy: SelectMin}}
	spec := Spec{MinReplicas: 1, MaxReplicas: 10, Metrics: []MetricSpec{PodsMetric(queueMetric, 5)}, Behavior: b}
	c.Reconcile(t0, Input{Spec: spec, CurrentReplicas: 2, Samples: q(10, 10)})
	if b.ScaleDown != nil || b.ScaleUp.Policies != nil || b.ScaleUp.StabilizationWindowSeconds != nil {
		t.Errorf("Reconcile filled the caller's behavior: %+v %+v", b.ScaleUp, b.ScaleDown)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{name: "negative tolerance", mutate: func(c *Config) { c.Tolerance = -0.1 }, field: "Tolerance"},
		{name: "negative cpu initialization period", mutate: func(c *Config) { c.CPUInitializationPeriod = -1 }, field: "CPUInitializationPeriod"},
		{name: "negative readiness delay", mutate: func(c *Config) { c.InitialReadinessDelay = -1 }, field: "InitialReadinessDelay"},
		{name: "negative downscale window", mutate: func(c *Config) { c.DownscaleStabilizationWindow = -1 }, field: "DownscaleStabilizationWindow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("New() error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

// BenchmarkReconcile is one sync of a two-metric HPA over 32 pods with the
// default behavior and a full five-minute history.
func BenchmarkReconcile(b *testing.B) {
	c, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	spec := queueSpec(1, 100, behavior(Behavior{}))
	spec.Metrics = append(spec.Metrics, ResourceUtilization("cpu", 70))
	in := Input{Spec: spec, CurrentReplicas: 32, Samples: map[string][]PodSample{
		queueMetric: queue(same(32, 5.2)...),
		"cpu":       cpuPods(same(32, 0.7)...),
	}}
	sec := 0
	for range 20 { // fill the 300 s window at a 15 s sync period
		c.Reconcile(at(sec), in)
		sec += 15
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Reconcile(at(sec), in)
		sec += 15
	}
}
