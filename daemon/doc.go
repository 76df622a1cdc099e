// Package daemon is prescaler's control loop: every interval, for every
// configured target, it reads the object the floor goes to, measures the
// lead time (sizing the forecaster's interval calibration and the demotion
// scoring for it), feeds the forecaster the demand steps completed since the
// last loop, reads the schedulable capacity, asks scaler.Decide for the floor
// and behavior, and writes them (or, in shadow mode, only exports what it
// would write). One target's loop is three phases that hand each other plain
// values (reconcile.go): gather (the object, the demand, the signals, the
// capacity), decide (demotion, the plan) and act (Events, placeholders, the
// write); the Outcome is assembled from the three.
//
// Demand is requests per minute everywhere (scaler.PerMinute): the demand
// query answers the mean rate over each step in it, the forecaster
// forecasts that series, and a replica's capacity is stated in it.
//
// Safety rules, all enforced here or in the decision core:
//   - missing or stale demand never lowers a floor (the decision falls back to
//     the floor in force);
//   - capacity that cannot be read never raises a floor beyond what runs now;
//   - a target at zero replicas (HPA disabled) is left alone;
//   - a target that opts out, leaves the config, is re-pointed at another
//     object or goes to shadow mode gets its user's values back, written by
//     the leader's next loop (a standby never writes); at start and after each
//     config change the leader also sweeps for objects carrying prescaler's
//     annotations that no active target writes to (sweep.go);
//   - one target's error never stops another, and a loop cannot outlive its
//     interval.
//
// The sources are narrow interfaces (sources.go) implemented by adapters over
// Prometheus, the Kubernetes informers and the writer in the command's wiring.
package daemon
