// Package backtest replays a demand trace through a simulated GPU inference
// Deployment under several scaling policies and compares what each costs
// (GPU-hours) and what each leaves unserved (overloaded minutes, late
// requests, queue wait).
//
// Policies, all on the same trace and cluster:
//   - reactive: the HPA alone (simulate/hpa, the upstream algorithm) on CPU
//     utilization and, optionally, the queue-depth metric;
//   - prescaler: the same HPA, with minReplicas and behavior written every
//     minute by scaler.Decide from a predictor.Rolling forecaster fed only the
//     past — the daemon's own code path;
//   - yesterday: a crude floor, yesterday's peak over the next start-up window
//     at the HPA's target;
//   - oracle: perfect foresight, each minute's replicas created a start-up
//     time ahead and released at once: the GPU-hours lower bound;
//   - the reactive HPA at a range of target utilizations, whose Pareto
//     frontier (overloaded minutes against GPU-hours) is the fair yardstick:
//     any policy can buy fewer overloaded minutes with more GPUs.
//
// With Options.NodeDelay the GPUs are an elastic pool of nodes that a node
// autoscaler requests for Pending pods (simulate/cluster), GPU-hours are the
// nodes', and two more prescaler runs join: prescaler-clamped, bounded by
// what the Ready nodes hold as the daemon sees a cluster today, and, with
// Options.Placeholders, prescaler-placeholders, whose decisions bring the
// nodes up with placeholder pods; the prescaler run itself is node-aware
// (scaler.Inputs.NodeLead and ProvisionableReplicas, through the same
// policy.Planner). The oracle brings its nodes up a node delay ahead with
// placeholders.
//
// The forecaster learns from the first Warmup of the trace; every policy is
// simulated and scored on the rest, starting from the replicas the HPA would
// settle at for the first minute.
package backtest
