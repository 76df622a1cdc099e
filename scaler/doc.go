// Package scaler turns a demand forecast into the replica floor and the
// scaling behavior prescaler writes to a target's HPA.
//
// It is the pure decision core: plain values in (the forecast, the pods'
// start-up time, the user's bounds, the free GPU capacity), a Decision out,
// with the bound that shaped it named as its Reason. No Kubernetes, no
// Prometheus, no clock: the daemon and the backtest simulator call the same
// Decide.
//
// # The floor
//
// A pod asked for now serves only after its start-up time (the lead time L),
// so the floor must already cover the demand until then, the step in which
// it becomes Ready included. With q_h the configured upper quantile of the
// h-step demand forecast, c the requests one Ready replica serves per minute
// at its target, and E the time elapsed since the forecast's origin (the end
// of the last complete step),
//
//	raise to   ⌈ (max_{h ≤ ⌊(E+L)/step⌋+1} q_h + B / max(L, step)) / c ⌉
//
// at once: a ramp due within the lead time is covered now, since waiting means
// the pods arrive late. B is the backlog, the requests waiting now (the queue
// depth; 0 when unknown): the forecast of arrivals does not hold them, so the
// floor adds the rate that drains them within one lead time. With Peaks set,
// the peak quantile of the window replaces the largest per-step q_h, here and
// below. Lowering is the risky direction (the pods given up take L to come
// back), so the floor comes down only to what also covers the forecast over
// L plus the scale-down guard window G,
//
//	lower to   max(raise target, ⌈ max_{h ≤ ⌊(E+L+G)/step⌋+1} q_h / c ⌉)
//
// and by at most a bounded share per decision. The result is bounded below by
// the user's own minReplicas (prescaler never goes below what the user
// asked for), above by the HPA's maxReplicas, and above by the replicas the
// free GPU capacity can schedule now, so prescaler never creates Pending pods.
//
// # The behavior
//
// Ahead of a predicted ramp the scale-up policy is opened (no stabilization,
// a Pods policy sized from the forecast slope) so the HPA follows the floor
// and its own metrics without its default 4-pods-per-15s limit; while a peak
// is forecast within the guard window, scale-down stabilization is stretched
// so the HPA does not shed pods between two bursts of one peak. When nothing
// is due, the user's own behavior is written back. A direction the user
// disabled (selectPolicy Disabled) is always written back as the user wrote
// it: prescaler then acts through the floor alone, which the HPA controller
// applies whatever the behavior says (it scales a target below minReplicas
// up to it before reading any behavior rule).
package scaler
