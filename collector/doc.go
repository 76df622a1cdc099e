// Package collector is prescaler's input layer: adapters that read the world
// and hand the pure core plain values. Each subpackage talks to one source
// and converts at its boundary, so nothing of a client library reaches the
// forecaster or the decision core:
//
//   - collector/prometheus runs a target's PromQL queries: the demand history
//     the forecaster is fed one value per step, and the latest queue depth,
//     latency and GPU utilization.
//   - collector/capacity computes how many more replicas of a workload the
//     cluster's nodes can hold, as the scheduler would place them.
//
// Collectors are called per target and return (values, error): a failing
// source degrades that target's inputs and is reported in metrics under
// prescaler_collector_*, and never stops the collection of another target.
package collector
