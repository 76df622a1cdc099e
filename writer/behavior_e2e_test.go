package writer_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// The world of TestWrittenBehaviorIsObeyedE2E: two HPAs on one Pods metric,
// with the user's slow behavior.
const (
	queueMetric = "queue_depth"
	// queueTarget is the HPAs' AverageValue target per pod. A metric at it
	// keeps the replicas; ten times it asks for ten times as many.
	queueTarget = 10
	// maxReplicas keeps the climb short: the plain HPA needs three of the
	// user's scale-up periods to get there.
	maxReplicas = 4
	// userUpPeriod is the user's scale-up policy: one pod per this period.
	userUpPeriod = 10 * time.Second
	// guard is the scale-down guard window prescaler plans with: the
	// stabilization the written behavior stretches scale-down to.
	guard = 30 * time.Second
)

// TestWrittenBehaviorIsObeyedE2E shows on the real HPA controller that the
// behavior prescaler writes changes what the HPA does. Two identical
// Deployments and HPAs scale on the same Pods metric, both with the user's
// behavior: one pod per 10 s up, no scale-down stabilization. On one of them
// writer.Apply writes what scaler.Decide plans ahead of a ramp due within the
// lead time that returns within a 30-s guard window: scale-up opened (no
// stabilization, 100 % or the ramp's pods per 15 s beside the user's policy,
// Max) and scale-down stabilization stretched to 30 s. The floor stays the
// user's, so the behavior is all that differs. The metric steps up to ten
// times its target, then down to zero, and the replica counts are sampled:
// the written HPA reaches maxReplicas a period or more before the plain one,
// which adds a pod per period, and keeps its replicas through the stretched
// window after the plain one has let them go.
//
// A third HPA, whose user disabled scale-up, shows what prescaler does
// there: the behavior is written back with scale-up still disabled, and the
// raised floor alone brings the replicas, since the HPA controller scales a
// target below minReplicas up to it before it reads any behavior.
func TestWrittenBehaviorIsObeyedE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	var perPod atomic.Int64 // the queue depth every pod of both Deployments reports
	perPod.Store(queueTarget)
	env := testbed.Start(t, testbed.Options{
		Prometheus: testbed.PrometheusOptions{Disabled: true},
		PodMetrics: func(_, _, metric string) (float64, bool) {
			return float64(perPod.Load()), metric == queueMetric
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	if _, err := env.AddNode(ctx, testbed.NodeSpec{Name: "node-a"}); err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	disabled := userBehavior()
	disabled.ScaleUp.SelectPolicy = ptr.To(autoscalingv2.DisabledPolicySelect)
	for name, behavior := range map[string]*autoscalingv2.HorizontalPodAutoscalerBehavior{
		"plain": userBehavior(), "written": userBehavior(), "disabled": disabled,
	} {
		createDeployment(ctx, t, env, ns, name)
		createQueueHPA(ctx, t, env, ns, name, behavior)
	}
	waitScalingActive(ctx, t, env, ns, "plain", "written", "disabled")

	w, err := writer.New(writer.Options{Kube: env.Client, Dynamic: dynamic.NewForConfigOrDie(env.RESTConfig)})
	if err != nil {
		t.Fatal(err)
	}
	ref := config.ObjectRef{Kind: config.KindHPA, Namespace: ns, Name: "written"}
	d := decideRamp(ctx, t, w, ref)
	opened, stretched := d.Behavior.ScaleUp, d.Behavior.ScaleDown
	if opened == nil || *opened.StabilizationWindowSeconds != 0 || opened.SelectPolicy != scaler.SelectMax || len(opened.Policies) != 3 ||
		stretched == nil || *stretched.StabilizationWindowSeconds != int32(guard/time.Second) {
		t.Fatalf("planned behavior %s: want scale-up opened beside the user's policy and scale-down stabilized over %s", d.Behavior, guard)
	}
	// A raised floor scales the target at once whatever the behavior; the
	// behavior is what this comparison is about, so the floor stays the user's.
	d.Floor = 1
	res, err := w.Apply(ctx, ref, d)
	if err != nil || !res.BehaviorChanged || res.Floor != 1 {
		t.Fatalf("apply %s: %+v, %v; want the behavior written and the user's floor 1", d.Behavior, res, err)
	}
	t.Logf("written behavior: %s", d.Behavior)

	disabledRef := config.ObjectRef{Kind: config.KindHPA, Namespace: ns, Name: "disabled"}
	dd := decideRamp(ctx, t, w, disabledRef)
	if dd.Behavior.ScaleUp == nil || dd.Behavior.ScaleUp.SelectPolicy != scaler.SelectDisabled || dd.Floor != maxReplicas {
		t.Fatalf("decision for a user who disabled scale-up: floor %d, behavior %s; want floor %d and scale-up still disabled",
			dd.Floor, dd.Behavior, maxReplicas)
	}
	if before, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "disabled", metav1.GetOptions{}); err != nil || ptr.Deref(before.Spec.Replicas, 1) != 1 {
		t.Fatalf("before the floor: Deployment disabled %+v, %v; want 1 replica", before, err)
	}
	if _, err := w.Apply(ctx, disabledRef, dd); err != nil {
		t.Fatal(err)
	}
	took := waitReplicas(ctx, t, env, ns, "disabled", maxReplicas)
	t.Logf("scale-up disabled: the floor %d brought its replicas in %s (behavior %s)", dd.Floor, took, dd.Behavior)

	perPod.Store(10 * queueTarget)
	up := sampleUntil(ctx, t, env, ns, func(s replicaSample) bool { return s.plain == maxReplicas })
	writtenUp, plainUp := up.firstAt(func(s replicaSample) bool { return s.written == maxReplicas }),
		up.firstAt(func(s replicaSample) bool { return s.plain == maxReplicas })
	t.Logf("step up: %s", up)
	// The plain HPA adds one pod per userUpPeriod: three periods from 1 to
	// 4, the first pod at once, so at least two periods; the written one
	// may add all three in one sync.
	if plainUp-writtenUp < userUpPeriod {
		t.Errorf("step up: the written HPA reached %d replicas after %s, the plain one after %s; want the written one at least %s sooner",
			maxReplicas, writtenUp, plainUp, userUpPeriod)
	}

	perPod.Store(0)
	down := sampleUntil(ctx, t, env, ns, func(s replicaSample) bool { return s.written == 1 })
	plainDown, writtenHeld := down.firstAt(func(s replicaSample) bool { return s.plain == 1 }),
		down.firstAt(func(s replicaSample) bool { return s.written < maxReplicas })
	t.Logf("step down: %s", down)
	// The plain HPA has no stabilization: it lets go within a few syncs.
	// The written one keeps the highest recommendation of the last 30 s,
	// and the last high one was made at most a sync before the step.
	if plainDown > 10*time.Second {
		t.Errorf("step down: the plain HPA took %s to reach 1 replica; it has no stabilization", plainDown)
	}
	if writtenHeld < guard-5*time.Second || writtenHeld > guard+15*time.Second {
		t.Errorf("step down: the written HPA kept %d replicas for %s, want about its %s stabilization window", maxReplicas, writtenHeld, guard)
	}
	if writtenHeld-plainDown < guard/2 {
		t.Errorf("step down: the written HPA let go %s after the plain one, want at least %s later", writtenHeld-plainDown, guard/2)
	}
}

// userBehavior is the user's behavior on the HPAs: one pod per
// userUpPeriod up, down at once (no stabilization, 100 % per 15 s).
func userBehavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: int32(userUpPeriod / time.Second)}},
		},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
		},
	}
}

// createQueueHPA creates the user's HPA for Deployment name: 1 to
// maxReplicas on the queue metric, with behavior.
func createQueueHPA(ctx context.Context, t *testing.T, env *testbed.Env, ns, name string, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) {
	t.Helper()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType,
				Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: queueMetric},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(queueTarget, resource.DecimalSI)},
				},
			}},
			Behavior: behavior,
		},
	}
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitScalingActive waits until each HPA reads its metric (ScalingActive),
// so that the step that follows is what moves them.
func waitScalingActive(ctx context.Context, t *testing.T, env *testbed.Env, ns string, names ...string) {
	t.Helper()
	for _, name := range names {
		var conditions []autoscalingv2.HorizontalPodAutoscalerCondition
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conditions = hpa.Status.Conditions
			for _, c := range conditions {
				if c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("HPA %s/%s does not read its metric: conditions %+v: %v", ns, name, conditions, err)
		}
	}
}

// decideRamp is the decision prescaler makes for the HPA ref as the daemon
// would, from its user's values as the writer observes them: a forecast in
// 15-s steps with a ramp within the 15-s lead time (10 → 40 requests per
// step, 1 → 4 replicas of 40 requests per minute) that returns within the
// guard window.
func decideRamp(ctx context.Context, t *testing.T, w *writer.Writer, ref config.ObjectRef) scaler.Decision {
	t.Helper()
	st, err := w.Observe(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	d := scaler.Decide(scaler.Inputs{
		StepLength: 15 * time.Second,
		Forecast:   []scaler.Step{{Mean: 40, Upper: 40}, {Mean: 160, Upper: 160}, {Mean: 40, Upper: 40}, {Mean: 160, Upper: 160}},
		Lead:       15 * time.Second, Guard: guard, ReplicaCapacity: 40,
		UserMinReplicas: st.UserMinReplicas, MaxReplicas: st.MaxReplicas,
		CurrentFloor: st.MinReplicas, CurrentReplicas: st.CurrentReplicas, CapacityReplicas: -1,
		UserBehavior: st.UserBehavior, DataOK: true,
	})
	if !d.RampDue || d.Behavior == nil {
		t.Fatalf("decision %+v: want a ramp due and a behavior", d)
	}
	return d
}

// replicaSample is both Deployments' replicas (as the HPAs set them) some
// time after a step of the metric.
type replicaSample struct {
	after          time.Duration
	plain, written int32
}

type timeline []replicaSample

// sampleUntil samples both Deployments every 200 ms from now until done
// holds for a sample (a minute at most).
func sampleUntil(ctx context.Context, t *testing.T, env *testbed.Env, ns string, done func(replicaSample) bool) timeline {
	t.Helper()
	start := time.Now()
	var samples timeline
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		s := replicaSample{after: time.Since(start)}
		for name, dst := range map[string]*int32{"plain": &s.plain, "written": &s.written} {
			dep, err := env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			*dst = ptr.Deref(dep.Spec.Replicas, 1)
		}
		samples = append(samples, s)
		return done(s), nil
	})
	if err != nil {
		t.Fatalf("sampling replicas: %v; so far %s", err, samples)
	}
	return samples
}

// firstAt is the time of the first sample for which cond holds (the end of
// the timeline when none does).
func (tl timeline) firstAt(cond func(replicaSample) bool) time.Duration {
	for _, s := range tl {
		if cond(s) {
			return s.after
		}
	}
	return tl[len(tl)-1].after
}

// String lists the changes of the timeline as "after plain/written".
func (tl timeline) String() string {
	var b strings.Builder
	for i, s := range tl {
		if i == 0 || s.plain != tl[i-1].plain || s.written != tl[i-1].written {
			fmt.Fprintf(&b, "%.1fs %d/%d  ", s.after.Seconds(), s.plain, s.written)
		}
	}
	return "(plain/written) " + strings.TrimSpace(b.String())
}
