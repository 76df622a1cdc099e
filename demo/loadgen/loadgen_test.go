package loadgen

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/trace"
)

var t0 = time.Unix(1_700_000_000, 0)

// flat is a generator over a constant trace, one trace minute per second,
// at the start of the trace.
func flat(t *testing.T, perMinute, capacity float64, minutes int) *Generator {
	t.Helper()
	values := make([]float64, minutes)
	for i := range values {
		values[i] = perMinute
	}
	g, err := New(Config{
		Trace:           trace.Series{StepMinutes: 1, Values: values},
		Clock:           Clock{Origin: t0, MinuteEvery: time.Second},
		ReplicaCapacity: capacity,
		ServiceTime:     300 * time.Millisecond,
		Labels:          Labels{Namespace: "default", Service: "ai-inference", Deployment: "ai-inference"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Every request that arrives is either served or still waiting, whatever
// the replicas do, and the latency histogram holds exactly the served ones.
func TestQueueConservesRequests(t *testing.T) {
	values := make([]float64, 600)
	for i := range values {
		values[i] = 200 + 150*math.Sin(float64(i)/40)
	}
	g, err := New(Config{Trace: trace.Series{StepMinutes: 1, Values: values},
		Clock: Clock{Origin: t0, OriginMinute: 100, MinuteEvery: 250 * time.Millisecond}, ReplicaCapacity: 80})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	at, arrived := t0, 0.0
	for range 2000 {
		at = at.Add(time.Duration(1+rng.IntN(100)) * time.Millisecond)
		tick := g.Advance(at, rng.IntN(6))
		arrived += tick.Arrived
	}
	s := g.Snapshot()
	if want := g.Arrived(g.cfg.Clock.Minute(at)) - g.Arrived(100); math.Abs(arrived-want) > 1e-6*want {
		t.Errorf("arrived %v, want the trace's %v", arrived, want)
	}
	if d := arrived - s.Served - s.Backlog; math.Abs(d) > 1e-6*arrived {
		t.Errorf("arrived %v != served %v + backlog %v (off by %v)", arrived, s.Served, s.Backlog, d)
	}
	if d := s.Latency.Total() - s.Served; math.Abs(d) > 1e-6*s.Served {
		t.Errorf("histogram holds %v requests, %v were served", s.Latency.Total(), s.Served)
	}
	if s.Backlog <= 0 {
		t.Error("no backlog: the test never overloaded the replicas")
	}
}

// One replica of 30/min against 60/min: half waits, and waits FIFO. The
// exposition is what Prometheus scrapes.
func TestMetricsExposition(t *testing.T) {
	g := flat(t, 60, 30, 10)
	// Minute 0-1: 60 arrive, 30 served at once, 30 queue (mid-tick, 0.5).
	g.Advance(t0.Add(time.Second), 1)
	// Minute 1-2: the 30 queued leave after 1.5 minutes; 60 more queue.
	g.Advance(t0.Add(2*time.Second), 1)
	if v, ok := g.PodQueueDepth(); !ok || v != 60 {
		t.Errorf("per-pod queue depth %v %v, want 60 on the one replica", v, ok)
	}
	want := `
# HELP ai_request_duration_seconds Request latency (queue wait plus service) in trace seconds.
# TYPE ai_request_duration_seconds histogram
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="0.5"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="1"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="2.5"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="5"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="10"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="30"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="60"} 30
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="120"} 60
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="300"} 60
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="600"} 60
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="1800"} 60
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="3600"} 60
ai_request_duration_seconds_bucket{namespace="default",service="ai-inference",le="+Inf"} 60
ai_request_duration_seconds_sum{namespace="default",service="ai-inference"} 2718
ai_request_duration_seconds_count{namespace="default",service="ai-inference"} 60
# HELP ai_request_queue_depth Requests waiting for a replica.
# TYPE ai_request_queue_depth gauge
ai_request_queue_depth{deployment="ai-inference",namespace="default"} 60
# HELP ai_requests_total Requests received by the inference service.
# TYPE ai_requests_total counter
ai_requests_total{namespace="default",service="ai-inference"} 120
`
	if err := testutil.CollectAndCompare(g.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n, err := testutil.CollectAndLint(g.Collector()); err != nil || len(n) > 0 {
		t.Errorf("lint: %v %v", n, err)
	}
}

// The backfilled counter is the one the generator goes on exporting: no
// reset and no jump where history meets the live series.
func TestHistoryContinuesIntoLiveCounter(t *testing.T) {
	g := flat(t, 60, 100, 100)
	g.cfg.Clock.OriginMinute = 50
	g.minute = 50
	h := g.History(t0.Add(-10*time.Second), t0, 2*time.Second)
	if len(h) != 5 || h[0].Value != 40*60 || h[4].Value != 48*60 {
		t.Fatalf("history %v: want the counter at minutes 40, 42, ..., 48", h)
	}
	g.Advance(t0.Add(2*time.Second), 1)
	if s := g.Snapshot(); s.Arrived != 52*60 || s.Backlog != 0 {
		t.Errorf("live counter %v backlog %v, want %v and none", s.Arrived, s.Backlog, 52*60)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := NewHistogram([]float64{1, 2, 4})
	if !math.IsNaN(h.Quantile(0.5)) {
		t.Error("quantile of an empty histogram is not NaN")
	}
	h.Observe(0.5, 50)
	h.Observe(3, 50)
	for q, want := range map[float64]float64{0.5: 1, 0.25: 0.5, 0.75: 3, 1: 4} {
		if got := h.Quantile(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	later := h.clone()
	later.Observe(10, 100)
	if got := later.Sub(h).Quantile(0.5); got != 4 {
		t.Errorf("quantile above every bound = %v, want the highest bound 4", got)
	}
}

func TestConfigIsValidated(t *testing.T) {
	good := Config{Trace: trace.Series{StepMinutes: 1, Values: []float64{1}},
		Clock: Clock{MinuteEvery: time.Second}, ReplicaCapacity: 1}
	for name, mutate := range map[string]func(*Config){
		"step":     func(c *Config) { c.Trace.StepMinutes = 5 },
		"empty":    func(c *Config) { c.Trace.Values = nil },
		"speed":    func(c *Config) { c.Clock.MinuteEvery = 0 },
		"capacity": func(c *Config) { c.ReplicaCapacity = math.NaN() },
	} {
		c := good
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(good); err != nil {
		t.Error(err)
	}
}
