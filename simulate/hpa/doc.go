// Package hpa models the decisions of the upstream Kubernetes
// HorizontalPodAutoscaler controller (kube-controller-manager,
// pkg/controller/podautoscaler) for one HPA, so that `prescaler backtest` can
// replay a demand trace through a simulated Deployment and see what the real
// HPA would have done with the minReplicas and behavior prescaler writes.
//
// The model is pure: plain values in, plain values out, time passed in, no
// I/O. The caller owns the clock and the sync period (upstream syncs every
// 15 s) and calls Controller.Reconcile once per sync with the HPA spec, the
// target's spec.replicas and the pods' metric samples.
//
// # One sync, in upstream's order
//
//  1. The first sync seeds the recommendation history with the current
//     replicas, so a new HPA does not scale down within its first window.
//  2. Target at 0 replicas: autoscaling is disabled, nothing changes. Above
//     maxReplicas: go to maxReplicas. Below minReplicas: go to minReplicas.
//     These three skip metrics, stabilization and rate policies entirely —
//     raising minReplicas takes effect on the next sync, whatever the
//     policies say.
//  3. Otherwise each metric proposes a count (replicas.go):
//     desired = ceil(ratio × ready pods), ratio = current / target, unless
//     the ratio is within tolerance (closed band [1−t, 1+t], t = 0.1). Pods
//     metrics average integer milli-values; Resource metrics use an integer
//     utilization percent of the pods' summed requests. With missing or
//     unready pods the ratio is recomputed pessimistically (missing: 0 on a
//     scale-up, the target — 100 % of request, or the target if above 100 %,
//     for resources — on a scale-down; unready: 0 on a scale-up) and the
//     count holds if the new ratio is within tolerance or changes
//     direction. The largest proposal wins. If every metric fails, or some
//     fail and the rest would scale down, nothing changes.
//  4. Normalization. With spec.behavior (even an empty one, filled with the
//     API defaults): the recommendation is kept between the lowest
//     recommendation of the scale-up window and the highest of the
//     scale-down window (both exclusive of their exact boundary), then
//     limited by the rate policies, where each policy measures from the
//     replica count at the start of its period (current − added + removed
//     by events strictly newer than PeriodSeconds) and selectPolicy picks
//     Max / Min / Disabled; finally clamped to [minReplicas, maxReplicas].
//     Without spec.behavior, upstream's legacy path: the highest
//     recommendation within --horizontal-pod-autoscaler-downscale-
//     stabilization (boundary included), then [minReplicas,
//     min(maxReplicas, max(2×current, 4))] — no scale-up window, no
//     scale-down rate limit, and a different scale-up limit than the
//     default behavior (from 1 replica: 4, not 5).
//  5. A rescale is remembered as a scale event (behavior path only) for the
//     rate policies of later syncs.
//
// Each Result names the step that settled the count (Reason) and says why
// with the numbers (Message).
//
// # Simplifications
//
// Differences from the real controller, all deliberate:
//
//   - Metric sources: only Pods metrics with an AverageValue target and
//     Resource metrics with an AverageUtilization target. No Object,
//     External, ContainerResource, or Resource AverageValue targets; no
//     metric label selectors.
//   - The metrics pipeline is the caller's: samples arrive already joined to
//     pods. No metric staleness, no metrics-server scrape lag or windows
//     beyond the per-sample SampledAt/Window used by the cpu readiness rule,
//     no metrics API errors other than the ones the calculation itself
//     raises (no pods, no ready pod with a value, a pod without a request).
//   - Per-pod requests are given as one number per pod (PodSample.Request);
//     container-level sums, restartable init containers and pod-level
//     resources are the caller's to add up.
//   - Quantities are float64. They are converted to integer milli-units
//     rounding up, like resource.Quantity.MilliValue, after snapping float
//     noise (0.1×1000) to the exact milli. Upstream's big-integer sums and
//     int64 overflow guards are not reproduced.
//   - Readiness: a zero StartedAt or ReadySince means "long ago". Upstream
//     treats a pod without a start time or without a Ready condition as
//     unready for cpu; a Running pod always has both, so the model does not
//     represent their absence. Succeeded and Unknown phases are treated as
//     Running, as upstream does.
//   - One `now` per sync. Upstream reads the wall clock several times within
//     a sync (and compares cpu samples with time.Now()); the model uses the
//     single instant it is given.
//   - Scale updates always succeed and take effect as written; no
//     FailedRescale, no retries, no status update, no LastScaleTime.
//   - Conditions (AbleToScale, ScalingActive, ScalingLimited) and Events are
//     not produced; their reason appears as Result.Reason/Message instead
//     (TooManyReplicas → "maxReplicas", TooFewReplicas → "minReplicas",
//     ScaleUpStabilized/ScaleDownStabilized → "stabilization").
//   - Scale to zero (HPAScaleToZero, minReplicas 0) is not modelled:
//     Spec.WithDefaults turns minReplicas 0 into the API default 1 (an int32
//     cannot tell unset from 0), and Validate rejects anything below 1. A
//     target at 0 replicas reports ScalingDisabled, as upstream.
//   - Validation covers the fields modelled (replica bounds, metric targets,
//     windows 0–3600 s, policy values and periods 1–1800 s, select policy,
//     tolerance). An invalid spec yields Reason InvalidSpec and no change;
//     a real API server would have refused the write and kept the old spec.
//   - An empty Policies slice and an empty SelectPolicy mean "unset" and
//     take the defaults; upstream distinguishes an explicit empty list
//     (rejected by validation) from an absent one.
//   - The scale-down window of a behavior that leaves it unset comes from
//     Config.DownscaleStabilizationWindow, as upstream takes it from its
//     flag; DefaultBehavior writes the resulting 300 s explicitly.
//   - One Controller per HPA, single-threaded. No selector validation, no
//     "pods controlled by multiple HPAs" check, no workqueue, resync jitter
//     or rate-limited requeue, no history cleanup on HPA deletion. A
//     kube-controller-manager restart (history lost) is modelled by
//     creating a new Controller.
//   - Replica counts that would overflow int32 saturate at MaxInt32.
//
// Supported and faithful, including upstream's quirks: the per-direction
// tolerance of KEP-4951 (Rules.Tolerance); the float64 arithmetic of
// Percent policies (50 replicas +10 % allows 56); the strict period
// boundary of rate policies (a 15 s policy forgets a scale event exactly
// 15 s later, so the default behavior can double on every 15 s sync); the
// in-place reuse of expired history entries; cpu-only readiness rules
// (Pods metrics and memory take a Running-but-unready pod's value at face
// value).
package hpa
