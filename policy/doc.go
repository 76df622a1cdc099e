// Package policy is the one path from observed demand to a floor decision:
// the rolling forecaster (predictor.Rolling) fed one demand step at a time,
// the forecast read over the windows the decision covers, and
// scaler.Decide. The daemon holds one Planner per target; the backtest and
// the headroom tuner replay a trace through the same Planner, so what they
// report is what the daemon would have done.
//
// It is pure like the packages it joins: plain values in and out, no
// clock, no I/O, no client libraries.
//
// # Headroom
//
// Two knobs decide how much capacity a floor holds above the forecast
// mean, and they are chosen per target (by the user, or by the tuner from
// the target's own history):
//
//   - Quantile: the floor covers this quantile of the forecast demand.
//   - Utilization: the fraction of a replica's capacity the floor plans
//     to use. At 1 the floor holds exactly the replicas the demand
//     quantile needs at full capacity; below 1 it adds that much again.
//
// The HPA keeps its own headroom above the floor (its target
// utilization). A floor planned at the HPA's own target stacks the
// forecast's headroom on the HPA's, which is why the default is 1: the
// quantile is the floor's headroom, the HPA's target is the HPA's.
package policy
