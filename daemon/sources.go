package daemon

import (
	"context"
	"math"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// The daemon's view of the world, one narrow interface per source. Adapters
// over Prometheus, the Kubernetes informers and the writer implement them in
// the command's wiring; tests implement them in a few lines.

// DemandSource returns a target's demand, one value per forecast step: the
// mean request rate over the step, per minute, whatever the step's length.
type DemandSource interface {
	// Steps returns the complete steps of the target's demand that start at
	// or after from and end at or before to, oldest first, on the grid
	// from + k·step. A step without data is NaN.
	Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error)
}

// CapacitySource tells how many replicas of a target the cluster can run now.
type CapacitySource interface {
	// CapacityReplicas is the target's scheduled replicas plus what the free
	// GPUs (and every other resource its pods request) can still hold.
	CapacityReplicas(ctx context.Context, t *config.Target) (int32, error)
}

// StartupSource reports how long the target's pods take to become Ready.
type StartupSource interface {
	// StartupP90 is the 90th percentile of creation → Ready over recent pods;
	// ok is false while too few pods were seen.
	StartupP90(ctx context.Context, t *config.Target) (d time.Duration, ok bool, err error)
}

// SignalSource reads how a target is serving now: the inputs of a learned
// per-replica capacity and of the latency-objective signal.
type SignalSource interface {
	// Signals returns the target's latest signals at or before at.
	Signals(ctx context.Context, t *config.Target, at time.Time) (Signals, error)
}

// Signals are a target's serving signals at one moment. A value whose query
// is not configured, or has no recent sample, is NaN.
type Signals struct {
	// Latency is the observed latency in seconds.
	Latency float64
	// GPUUtilization is the mean GPU utilization, a fraction.
	GPUUtilization float64
	// QueueDepth is the number of requests waiting.
	QueueDepth float64
	// ReadyReplicas is the scale target's Ready replica count; -1 when unknown.
	ReadyReplicas int32
}

// NoSignals is a Signals with nothing known.
func NoSignals() Signals {
	return Signals{Latency: math.NaN(), GPUUtilization: math.NaN(), QueueDepth: math.NaN(), ReadyReplicas: -1}
}

// ScaleState is what the daemon reads from the object it writes to.
type ScaleState struct {
	// UserMinReplicas is the user's own floor (saved before prescaler's
	// first write, or updated when the user edited it since).
	UserMinReplicas int32
	MaxReplicas     int32
	// CurrentFloor is the minReplicas in force now.
	CurrentFloor int32
	// CurrentReplicas is the scale target's replica count.
	CurrentReplicas int32
	// UserBehavior is the user's own behavior (nil: unset).
	UserBehavior *scaler.Behavior
	// Disabled is true when the scale target is at zero replicas (the HPA
	// does not act then, and neither does prescaler).
	Disabled bool
	// OptedOut is true when the object asks prescaler to leave it alone.
	OptedOut bool
	// Unsupported, when set, says why prescaler cannot decide for the
	// object (it scales something other than a Deployment); the object
	// gets the user's values back, as when it opts out.
	Unsupported error
}

// Scaler reads and writes the object a target's floor goes to.
type Scaler interface {
	State(ctx context.Context, t *config.Target) (ScaleState, error)
	// Apply writes the decision (and records an Event); it makes no call
	// when nothing would change.
	Apply(ctx context.Context, t *config.Target, d scaler.Decision) (WriteReport, error)
	// Restore puts the user's own values back and releases the object.
	Restore(ctx context.Context, t *config.Target) (WriteReport, error)
	// Announce records an Event on the object about the target (demotion,
	// promotion); warning marks it as a Warning.
	Announce(ctx context.Context, t *config.Target, warning bool, reason, message string) error
}

// WriteReport tells how a write went beyond its error.
type WriteReport struct {
	// Conflicts counts writes refused with 409 Conflict and retried: some
	// other writer changed the object between prescaler's read and write.
	Conflicts int
	// Changed is true when the call did what it was asked and the object
	// changed: Apply wrote the decision (not when the object already held
	// it), Restore gave the user's values back (not when the object held
	// nothing of prescaler's).
	Changed bool
	// PreviousFloor and Floor are the minReplicas before and after the
	// call; BehaviorChanged reports that the behavior was written too.
	PreviousFloor, Floor int32
	BehaviorChanged      bool
}
