package prometheus

import (
	"errors"

	promclient "github.com/prometheus/client_golang/prometheus"
)

// Metric label names.
const (
	LabelTarget = "target"
	LabelQuery  = "query"
)

// Query names: the values of the query label, one per config.Queries field.
const (
	QueryDemand         = "demand"
	QueryQueueDepth     = "queue_depth"
	QueryLatency        = "latency"
	QueryGPUUtilization = "gpu_utilization"
)

// Metrics are the query metrics of every target's reads, registered on a
// registry the caller owns.
type Metrics struct {
	sent          *promclient.CounterVec
	queryDuration *promclient.HistogramVec
	queryErrors   *promclient.CounterVec
	emptyResults  *promclient.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg promclient.Registerer) (*Metrics, error) {
	m := &Metrics{
		sent: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "queries_sent_total",
			Help: "Queries sent to Prometheus, by kind: grouped (one for every target whose query has the same shape, over one window) or single (one target's; a window longer than 11,000 steps takes several requests).",
		}, []string{"kind"}),
		queryDuration: promclient.NewHistogramVec(promclient.HistogramOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "query_duration_seconds",
			Help: "Time to run one query against Prometheus, all range chunks included.",
			// From a cached instant answer to a backfill of weeks split in
			// several requests, up to timeouts.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{LabelTarget, LabelQuery}),
		queryErrors: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "query_errors_total",
			Help: "Queries that failed: Prometheus unreachable or answering an error, several series instead of one, a malformed result. Empty results are counted in prescaler_collector_empty_results_total instead.",
		}, []string{LabelTarget, LabelQuery}),
		emptyResults: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "empty_results_total",
			Help: "Queries that Prometheus answered with no data (no series matched in the window read).",
		}, []string{LabelTarget, LabelQuery}),
	}
	for _, kind := range []string{RequestGrouped, RequestSingle} {
		m.sent.WithLabelValues(kind)
	}
	for _, c := range []promclient.Collector{m.sent, m.queryDuration, m.queryErrors, m.emptyResults} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("register collector metrics"), err)
		}
	}
	return m, nil
}

// Kinds of queries sent (prescaler_collector_queries_sent_total).
const (
	RequestGrouped = "grouped"
	RequestSingle  = "single"
)

// ObserveRequest counts one query sent to Prometheus. A nil Metrics counts
// nothing.
func (m *Metrics) ObserveRequest(kind string) {
	if m != nil {
		m.sent.WithLabelValues(kind).Inc()
	}
}

// ObserveQuery records one query of a target (query is one of the Query*
// names): its duration, and its failure or empty answer. A nil Metrics
// records nothing.
func (m *Metrics) ObserveQuery(target, query string, seconds float64, err error) {
	if m == nil {
		return
	}
	m.queryDuration.WithLabelValues(target, query).Observe(seconds)
	// Both counters exist from the first query, at zero until they count.
	failed := m.queryErrors.WithLabelValues(target, query)
	empty := m.emptyResults.WithLabelValues(target, query)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoData):
		empty.Inc()
	default:
		failed.Inc()
	}
}
