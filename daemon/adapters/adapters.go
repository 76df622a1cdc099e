// Package adapters implements the daemon's narrow source interfaces over the
// real collectors and the writer: Prometheus for demand, the informer-based
// capacity and start-up collectors, and the HPA/ScaledObject writer. It is
// the only place that knows both sides; the daemon itself sees plain values.
package adapters

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/prescaler/prescaler/collector/capacity"
	promsrc "github.com/prescaler/prescaler/collector/prometheus"
	"github.com/prescaler/prescaler/collector/startup"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/writer"
)

// Demand reads a target's demand query from Prometheus. The query gives
// requests per minute at each evaluation instant (for example
// sum(rate(requests_total[1m])) * 60 with the range equal to the step); a
// step [s, s+step) is the value evaluated at its end: the mean rate over the
// step, in requests per minute.
type Demand struct {
	Source PromQL
	// Metrics records each query's duration and outcome; nil records none.
	Metrics *promsrc.Metrics
}

// Steps implements daemon.DemandSource. The demand query answers in
// requests per minute (the mean rate over each step, docs/config.md), the
// unit the daemon keeps, so the values pass as they are.
func (d Demand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	step := time.Duration(t.Forecast.Step)
	start := time.Now()
	series, err := d.Source.Range(ctx, t.Queries.Demand, from.Add(step), to, step)
	d.Metrics.ObserveQuery(t.Name, promsrc.QueryDemand, time.Since(start).Seconds(), err)
	if err != nil && !errors.Is(err, promsrc.ErrNoData) {
		return nil, err
	}
	out := make([]scaler.PerMinute, len(series.Values))
	for i, v := range series.Values {
		out[i] = scaler.PerMinute(v)
	}
	return out, nil
}

// ScaleTargets finds the Deployment an HPA or a ScaledObject scales,
// through the writer, which answers from its cache and refuses any other
// kind of scale target (writer.ErrUnsupportedScaleTarget). The capacity,
// start-up and signal reads of a loop all need it, and an object's
// scaleTargetRef almost never changes, so an answer is reused for TTL.
type ScaleTargets struct {
	Writer *writer.Writer
	// TTL is how long an answer is reused; 0 reads every time.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	known map[config.ObjectRef]knownTarget
}

type knownTarget struct {
	name string
	read time.Time
}

// Deployment returns the name of the Deployment the target's object scales.
func (s *ScaleTargets) Deployment(ctx context.Context, t *config.Target) (string, error) {
	ref, now := t.Object(), time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	k, ok := s.known[ref]
	s.mu.Unlock()
	if ok && now().Sub(k.read) < s.TTL {
		return k.name, nil
	}
	name, err := s.Writer.ScaleTarget(ctx, ref)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.known == nil {
		s.known = map[config.ObjectRef]knownTarget{}
	}
	s.known[ref] = knownTarget{name: name, read: now()}
	s.mu.Unlock()
	return name, nil
}

// Capacity answers how many replicas of the target the cluster can run.
type Capacity struct {
	Targets   *ScaleTargets
	Collector *capacity.Collector
}

// CapacityReplicas implements daemon.CapacitySource.
func (c Capacity) CapacityReplicas(ctx context.Context, t *config.Target) (int32, error) {
	name, err := c.Targets.Deployment(ctx, t)
	if err != nil {
		return 0, err
	}
	target, err := c.Collector.ForDeployment(t.Namespace, name)
	if err != nil {
		return 0, err
	}
	return target.Replicas(), nil
}

// Startup measures the target's pods' start-up time.
type Startup struct {
	Targets  *ScaleTargets
	Recorder *startup.Recorder
	// Window is how far back pod starts count; MinSamples how many are
	// needed before the measurement replaces the default lead time.
	Window     time.Duration
	MinSamples int
	Now        func() time.Time
}

// StartupP90 implements daemon.StartupSource.
func (s Startup) StartupP90(ctx context.Context, t *config.Target) (time.Duration, bool, error) {
	name, err := s.Targets.Deployment(ctx, t)
	if err != nil {
		return 0, false, err
	}
	est, err := s.Recorder.ForDeployment(t.Namespace, name, s.Window, s.Now())
	if errors.Is(err, startup.ErrNoSamples) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return est.P90, est.Samples >= s.MinSamples, nil
}

// Scaler reads and writes through the writer. It is also the daemon's
// Sweeper, over the objects in Namespaces (none: all namespaces).
type Scaler struct {
	Writer     *writer.Writer
	Namespaces []string
}

// Managed implements daemon.Sweeper.
func (s Scaler) Managed(ctx context.Context) ([]config.ObjectRef, error) {
	return eachNamespace(s.Namespaces, func(ns string) ([]config.ObjectRef, error) { return s.Writer.ListManaged(ctx, ns) })
}

// eachNamespace joins list's answers for each of namespaces; with none, it
// asks once for "", all namespaces.
func eachNamespace[T any](namespaces []string, list func(namespace string) ([]T, error)) ([]T, error) {
	if len(namespaces) == 0 {
		return list("")
	}
	var all []T
	for _, ns := range namespaces {
		more, err := list(ns)
		if err != nil {
			return nil, err
		}
		all = append(all, more...)
	}
	return all, nil
}

// Release implements daemon.Sweeper.
func (s Scaler) Release(ctx context.Context, ref config.ObjectRef) error {
	_, err := s.Writer.Restore(ctx, ref)
	if errors.Is(err, writer.ErrNotFound) {
		return nil // deleted since it was listed
	}
	return err
}

// State implements daemon.Scaler.
func (s Scaler) State(ctx context.Context, t *config.Target) (daemon.ScaleState, error) {
	st, err := s.Writer.Observe(ctx, t.Object())
	if errors.Is(err, writer.ErrUnsupportedScaleTarget) {
		return daemon.ScaleState{Unsupported: err}, nil
	}
	if err != nil {
		return daemon.ScaleState{}, err
	}
	return daemon.ScaleState{
		UserMinReplicas: st.UserMinReplicas,
		MaxReplicas:     st.MaxReplicas,
		CurrentFloor:    st.MinReplicas,
		CurrentReplicas: st.CurrentReplicas,
		UserBehavior:    st.UserBehavior,
		Disabled:        st.Disabled,
		OptedOut:        st.OptedOut,
	}, nil
}

// Apply implements daemon.Scaler.
func (s Scaler) Apply(ctx context.Context, t *config.Target, d scaler.Decision) (daemon.WriteReport, error) {
	res, err := s.Writer.Apply(ctx, t.Object(), d)
	return writeReport(res, writer.OutcomeWritten), err
}

// Restore implements daemon.Scaler.
func (s Scaler) Restore(ctx context.Context, t *config.Target) (daemon.WriteReport, error) {
	res, err := s.Writer.Restore(ctx, t.Object())
	if errors.Is(err, writer.ErrNotFound) {
		return daemon.WriteReport{}, nil // nothing left to give back
	}
	return writeReport(res, writer.OutcomeRestored), err
}

// writeReport is the daemon's view of a writer call meant to end in the
// outcome done. Any other outcome reports no change: the object already
// held the values, or Apply found it opted out and gave it back instead of
// writing the decision.
func writeReport(res writer.Result, done writer.Outcome) daemon.WriteReport {
	return daemon.WriteReport{Conflicts: res.Conflicts, Changed: res.Outcome == done,
		PreviousFloor: res.PreviousFloor, Floor: res.Floor, BehaviorChanged: res.BehaviorChanged}
}

// Announce implements daemon.Scaler.
func (s Scaler) Announce(ctx context.Context, t *config.Target, warning bool, reason, message string) error {
	eventtype := corev1.EventTypeNormal
	if warning {
		eventtype = corev1.EventTypeWarning
	}
	return s.Writer.Announce(ctx, t.Object(), eventtype, reason, message)
}

// Signals reads a target's latency and GPU utilization from Prometheus and
// its Ready replicas from the Deployment informer.
type Signals struct {
	Source    PromQL
	Targets   *ScaleTargets
	Collector *capacity.Collector
	// Stale is how old a sample may be and still count as now.
	Stale time.Duration
	// Metrics records each query's duration and outcome; nil records none.
	Metrics *promsrc.Metrics
}

// Signals implements daemon.SignalSource. Each signal is read on its own: a
// query that fails leaves its value unknown and the others are still read.
func (s Signals) Signals(ctx context.Context, t *config.Target, at time.Time) (daemon.Signals, error) {
	out := daemon.NoSignals()
	var errs []error
	read := func(query, name string, into *float64) {
		if query == "" {
			return
		}
		start := time.Now()
		v, err := s.latest(ctx, query, at, time.Duration(t.Forecast.Step))
		s.Metrics.ObserveQuery(t.Name, name, time.Since(start).Seconds(), err)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*into = v
	}
	read(t.Queries.Latency, promsrc.QueryLatency, &out.Latency)
	read(t.Queries.GPUUtilization, promsrc.QueryGPUUtilization, &out.GPUUtilization)
	read(t.Queries.QueueDepth, promsrc.QueryQueueDepth, &out.QueueDepth)
	name, err := s.Targets.Deployment(ctx, t)
	if err == nil {
		out.ReadyReplicas, err = s.Collector.ReadyReplicas(t.Namespace, name)
	}
	if err != nil {
		out.ReadyReplicas = -1
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// latest reads a query's newest value; one older than Stale is unknown
// (NaN) rather than an error: a latency series goes quiet when no request
// completes, which is not a fault.
func (s Signals) latest(ctx context.Context, query string, at time.Time, step time.Duration) (float64, error) {
	sample, err := s.Source.Latest(ctx, query, at, min(step, 15*time.Second))
	if errors.Is(err, promsrc.ErrNoData) {
		return math.NaN(), nil
	}
	if err != nil {
		return math.NaN(), err
	}
	if at.Sub(sample.Time) > s.Stale {
		return math.NaN(), nil
	}
	return sample.Value, nil
}
