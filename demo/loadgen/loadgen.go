package loadgen

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prescaler/prescaler/trace"
)

// Clock maps real time onto trace minutes. It is linear over the backfilled
// history and the live run alike: a forecaster that learns the daily season
// in real seconds must find the same phase in both.
type Clock struct {
	// Origin is the real instant at which the trace is at OriginMinute.
	Origin time.Time
	// OriginMinute is a position in the trace, in minutes from its start.
	OriginMinute float64
	// MinuteEvery is the real time one trace minute lasts.
	MinuteEvery time.Duration
}

// Minute is the trace position at real time t.
func (c Clock) Minute(t time.Time) float64 {
	return c.OriginMinute + float64(t.Sub(c.Origin))/float64(c.MinuteEvery)
}

// Time is the real time at which the trace reaches minute m.
func (c Clock) Time(m float64) time.Time {
	return c.Origin.Add(time.Duration((m - c.OriginMinute) * float64(c.MinuteEvery)))
}

// Labels are the workload's identity on the exported series.
type Labels struct {
	Namespace  string
	Service    string
	Deployment string
}

// Config describes the traffic and the serving model.
type Config struct {
	// Trace is the demand, requests per minute, one value per minute
	// (StepMinutes 1). Missing minutes repeat the minute before.
	Trace trace.Series
	Clock Clock
	// ReplicaCapacity is the requests per trace minute one Ready replica
	// serves.
	ReplicaCapacity float64
	// ServiceTime is the latency of a request that does not wait, in trace
	// time.
	ServiceTime time.Duration
	Labels      Labels
}

func (c Config) validate() error {
	switch {
	case c.Trace.StepMinutes != 1:
		return fmt.Errorf("loadgen: the trace must have one value per minute, it has one per %d", c.Trace.StepMinutes)
	case len(c.Trace.Values) == 0:
		return errors.New("loadgen: the trace is empty")
	case c.Clock.MinuteEvery <= 0:
		return fmt.Errorf("loadgen: Clock.MinuteEvery %s must be positive", c.Clock.MinuteEvery)
	case !(c.ReplicaCapacity > 0) || math.IsInf(c.ReplicaCapacity, 0):
		return fmt.Errorf("loadgen: ReplicaCapacity %v must be a positive number", c.ReplicaCapacity)
	case c.ServiceTime < 0:
		return fmt.Errorf("loadgen: ServiceTime %s must not be negative", c.ServiceTime)
	}
	return nil
}

// Generator replays the trace and serves it. Advance moves it forward; the
// other methods read it, concurrently with Advance.
type Generator struct {
	cfg Config
	// rate[k] is the demand of trace minute k; cum[k] the requests that
	// arrived in minutes [0, k).
	rate, cum []float64

	mu      sync.Mutex
	minute  float64 // trace position of the last Advance
	serving int
	queue   fifo
	served  float64
	hist    Histogram
}

// New returns a generator positioned at the clock's origin with an empty
// queue.
func New(cfg Config) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, minute: cfg.Clock.OriginMinute, hist: NewHistogram(DurationBuckets)}
	g.rate = make([]float64, len(cfg.Trace.Values))
	g.cum = make([]float64, len(cfg.Trace.Values)+1)
	prev := 0.0
	for k, v := range cfg.Trace.Values {
		if math.IsNaN(v) {
			v = prev // a gap in a recorded trace: hold the last rate
		}
		g.rate[k], prev = v, v
		g.cum[k+1] = g.cum[k] + v
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Minutes is the trace's length in minutes.
func (g *Generator) Minutes() int { return len(g.rate) }

// Arrived is the number of requests that arrived from the trace's start to
// minute m (the ai_requests_total counter's value at that position).
func (g *Generator) Arrived(m float64) float64 {
	m = math.Min(math.Max(m, 0), float64(len(g.rate)))
	k := int(m)
	if k == len(g.rate) {
		return g.cum[k]
	}
	return g.cum[k] + (m-float64(k))*g.rate[k]
}

// Demand is the trace's rate at minute m, in requests per minute (0 outside
// the trace).
func (g *Generator) Demand(m float64) float64 {
	if m < 0 || m >= float64(len(g.rate)) {
		return 0
	}
	return g.rate[int(m)]
}

// Tick is what one Advance did.
type Tick struct {
	// Minute is the trace position at the end of the tick.
	Minute float64
	// Arrived and Served are the requests that arrived and were served
	// during the tick; Backlog is what waits at its end.
	Arrived, Served, Backlog float64
}

// Advance moves the clock to now with serving Ready replicas: the requests
// that arrived since the last call join the queue behind those already
// waiting, and the replicas serve it in order. A now before the last call
// changes nothing.
func (g *Generator) Advance(now time.Time, serving int) Tick {
	g.mu.Lock()
	defer g.mu.Unlock()
	x0, x1 := g.minute, g.cfg.Clock.Minute(now)
	g.serving = max(serving, 0)
	if x1 <= x0 {
		return Tick{Minute: x0, Backlog: g.queue.backlog}
	}
	arrived := g.Arrived(x1) - g.Arrived(x0)
	budget := float64(g.serving) * g.cfg.ReplicaCapacity * (x1 - x0)
	// Requests that waited go first; they leave at the end of this tick.
	served := g.queue.serve(x1, budget, g.observe)
	// This tick's arrivals take what service is left without waiting; the
	// rest queue as if they arrived mid-tick.
	direct := math.Min(arrived, budget-served)
	g.observe(0, direct)
	if rest := arrived - direct; rest > massEpsilon*arrived {
		g.queue.push((x0+x1)/2, rest)
	}
	g.minute = x1
	g.served += served + direct
	return Tick{Minute: x1, Arrived: arrived, Served: served + direct, Backlog: g.queue.backlog}
}

// observe records mass requests that waited waitMinutes of trace time.
func (g *Generator) observe(waitMinutes, mass float64) {
	if mass > 0 {
		g.hist.Observe(g.cfg.ServiceTime.Seconds()+60*waitMinutes, mass)
	}
}

// Snapshot is the generator's state at its last Advance.
type Snapshot struct {
	// Minute is the trace position; Demand the trace's rate there
	// (requests per minute).
	Minute, Demand float64
	// Arrived and Served count requests since the trace's start and since
	// the generator started respectively; Backlog is what waits now.
	Arrived, Served, Backlog float64
	// Serving is the Ready replicas at the last Advance.
	Serving int
	// Wait is how long, in trace seconds, a request arriving now would
	// wait for the queue ahead of it (+Inf with a backlog and no replica).
	Wait float64
	// Latency is the cumulative latency histogram.
	Latency Histogram
}

// Snapshot returns the state at the last Advance.
func (g *Generator) Snapshot() Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Snapshot{
		Minute: g.minute, Demand: g.Demand(g.minute),
		Arrived: g.Arrived(g.minute), Served: g.served, Backlog: g.queue.backlog,
		Serving: g.serving, Latency: g.hist.clone(),
	}
	switch {
	case s.Backlog <= 0:
	case g.serving == 0:
		s.Wait = math.Inf(1)
	default:
		s.Wait = 60 * s.Backlog / (float64(g.serving) * g.cfg.ReplicaCapacity)
	}
	return s
}

// PodQueueDepth is the queue's share of one Ready replica: the value each
// pod would report for ai_request_queue_depth. ok is false with no replica.
func (g *Generator) PodQueueDepth() (v float64, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.serving == 0 {
		return 0, false
	}
	return g.queue.backlog / float64(g.serving), true
}

// Sample is one point of a backfilled series.
type Sample struct {
	Time  time.Time
	Value float64
}

// History returns ai_requests_total at every instant from, from+every, ...
// before to, for the instants the trace covers: what Prometheus would have
// scraped had the generator run then.
func (g *Generator) History(from, to time.Time, every time.Duration) []Sample {
	var out []Sample
	if every <= 0 {
		return nil
	}
	for t := from; t.Before(to); t = t.Add(every) {
		if m := g.cfg.Clock.Minute(t); m >= 0 && m <= float64(len(g.rate)) {
			out = append(out, Sample{Time: t, Value: g.Arrived(m)})
		}
	}
	return out
}
