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

// Metrics are the collector's own metrics, shared by the Collectors of every
// target and registered on a registry the caller owns.
type Metrics struct {
	queryDuration *promclient.HistogramVec
	queryErrors   *promclient.CounterVec
	emptyResults  *promclient.CounterVec
	lastSuccess   *promclient.GaugeVec
	backfilled    *promclient.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg promclient.Registerer) (*Metrics, error) {
	m := &Metrics{
		queryDuration: promclient.NewHistogramVec(promclient.HistogramOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "query_duration_seconds",
			Help: "Time to run one collector query against Prometheus, all range chunks included.",
			// From a cached instant answer to a backfill of weeks split in
			// several requests, up to timeouts.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{LabelTarget, LabelQuery}),
		queryErrors: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "query_errors_total",
			Help: "Collector queries that failed: Prometheus unreachable or answering an error, several series instead of one, a malformed result. Empty results are counted in prescaler_collector_empty_results_total instead.",
		}, []string{LabelTarget, LabelQuery}),
		emptyResults: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "empty_results_total",
			Help: "Collector queries that Prometheus answered with no data (no series matched in the window read).",
		}, []string{LabelTarget, LabelQuery}),
		lastSuccess: promclient.NewGaugeVec(promclient.GaugeOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the last collection in which every configured query of the target was answered without error.",
		}, []string{LabelTarget}),
		backfilled: promclient.NewCounterVec(promclient.CounterOpts{
			Namespace: "prescaler", Subsystem: "collector", Name: "backfilled_samples_total",
			Help: "Demand samples (steps with a value) read by history backfills, at start and after a gap longer than the history.",
		}, []string{LabelTarget}),
	}
	for _, c := range []promclient.Collector{m.queryDuration, m.queryErrors, m.emptyResults, m.lastSuccess, m.backfilled} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("register collector metrics"), err)
		}
	}
	return m, nil
}

// initTarget creates a target's series at zero, so that rate() and absent()
// work from the first scrape.
func (m *Metrics) initTarget(target string, queries []string) {
	if m == nil {
		return
	}
	for _, q := range queries {
		m.queryErrors.WithLabelValues(target, q)
		m.emptyResults.WithLabelValues(target, q)
	}
	m.backfilled.WithLabelValues(target)
}

// DeleteTarget removes a target's series, for a target dropped from the
// configuration.
func (m *Metrics) DeleteTarget(target string) {
	if m == nil {
		return
	}
	l := promclient.Labels{LabelTarget: target}
	m.queryDuration.DeletePartialMatch(l)
	m.queryErrors.DeletePartialMatch(l)
	m.emptyResults.DeletePartialMatch(l)
	m.lastSuccess.DeletePartialMatch(l)
	m.backfilled.DeletePartialMatch(l)
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

func (m *Metrics) succeeded(target string, unixSeconds float64) {
	if m != nil {
		m.lastSuccess.WithLabelValues(target).Set(unixSeconds)
	}
}

func (m *Metrics) addBackfilled(target string, n int) {
	if m != nil {
		m.backfilled.WithLabelValues(target).Add(float64(n))
	}
}
