package loadgen

import (
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the upper bounds (trace seconds) of
// ai_request_duration_seconds: from an unqueued request to an hour's wait.
var DurationBuckets = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Histogram is a weighted latency histogram: request counts are fluid, so
// bucket counts are real numbers. Counts[i] is the mass in (Bounds[i-1],
// Bounds[i]]; the last count is above every bound.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Sum    float64
}

// NewHistogram returns an empty histogram over bounds.
func NewHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]float64, len(bounds)+1)}
}

// Observe adds mass requests of latency v.
func (h *Histogram) Observe(v, mass float64) {
	i, _ := slices.BinarySearch(h.Bounds, v)
	h.Counts[i] += mass
	h.Sum += v * mass
}

// Total is the mass of the histogram.
func (h Histogram) Total() float64 {
	t := 0.0
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// Sub is the histogram of what was observed after prev (prev must be an
// earlier state of the same histogram).
func (h Histogram) Sub(prev Histogram) Histogram {
	out := h.clone()
	if len(prev.Counts) != len(out.Counts) {
		return out
	}
	for i := range out.Counts {
		out.Counts[i] -= prev.Counts[i]
	}
	out.Sum -= prev.Sum
	return out
}

// Quantile estimates the q-quantile as Prometheus' histogram_quantile does:
// linear within the bucket that holds it, the lowest bucket starting at 0,
// and the highest finite bound for mass above every bound. NaN when empty.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total <= 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank, seen := q*total, 0.0
	for i, c := range h.Counts {
		if seen+c < rank || c <= 0 {
			seen += c
			continue
		}
		if i == len(h.Bounds) {
			break
		}
		lo := 0.0
		if i > 0 {
			lo = h.Bounds[i-1]
		}
		return lo + (h.Bounds[i]-lo)*(rank-seen)/c
	}
	return h.Bounds[len(h.Bounds)-1]
}

func (h Histogram) clone() Histogram {
	return Histogram{Bounds: h.Bounds, Counts: slices.Clone(h.Counts), Sum: h.Sum}
}

// Metric names the generator exports.
const (
	MetricRequests   = "ai_requests_total"
	MetricQueueDepth = "ai_request_queue_depth"
	MetricDuration   = "ai_request_duration_seconds"
)

// collector exports the generator's state at its last Advance. A Collector
// rather than client_golang's Counter and Histogram: the counter is a
// function of the clock and the histogram is weighted, which those types
// cannot express.
type collector struct {
	g                        *Generator
	requests, queue, latency *prometheus.Desc
}

// Collector returns the prometheus.Collector of the generator's metrics, for
// a registry the caller owns.
func (g *Generator) Collector() prometheus.Collector {
	l := g.cfg.Labels
	service := prometheus.Labels{"namespace": l.Namespace, "service": l.Service}
	return &collector{
		g: g,
		requests: prometheus.NewDesc(MetricRequests,
			"Requests received by the inference service.", nil, service),
		queue: prometheus.NewDesc(MetricQueueDepth, "Requests waiting for a replica.",
			nil, prometheus.Labels{"namespace": l.Namespace, "deployment": l.Deployment}),
		latency: prometheus.NewDesc(MetricDuration,
			"Request latency (queue wait plus service) in trace seconds.", nil, service),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.queue
	ch <- c.latency
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.g.Snapshot()
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, s.Arrived)
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, s.Backlog)
	// Exposed counts must be whole and cumulative; flooring the cumulative
	// sums keeps them monotonic in both bucket order and time.
	buckets := make(map[float64]uint64, len(s.Latency.Bounds))
	cum := 0.0
	for i, b := range s.Latency.Bounds {
		cum += s.Latency.Counts[i]
		buckets[b] = uint64(math.Floor(cum))
	}
	total := uint64(math.Floor(s.Latency.Total()))
	ch <- prometheus.MustNewConstHistogram(c.latency, total, s.Latency.Sum, buckets)
}
