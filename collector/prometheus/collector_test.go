package prometheus

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
)

func testTarget(name string) config.Target {
	t := config.DefaultTarget()
	t.Name = name
	t.Namespace = "default"
	t.HPA = name
	t.Queries = config.Queries{
		Demand:     name + ":demand",
		QueueDepth: name + ":queue",
		Latency:    name + ":latency",
	}
	t.Forecast.Step = config.Duration(time.Minute)
	t.Forecast.History = config.Duration(time.Hour)
	return t
}

// signals serves each target's queries: demand names its minute, the queue
// depth is 7, latency matches nothing (an idle service), and any query in
// failing answers a server error.
type signals struct {
	failing atomic.Value // string: the query that fails, "" for none
}

func (s *signals) fail(r rangeRequest) (int, string) {
	if f, _ := s.failing.Load().(string); f != "" && r.query == f {
		return http.StatusServiceUnavailable, "overloaded"
	}
	return 0, ""
}

func (s *signals) series(query string) []fakeSeries {
	switch {
	case strings.HasSuffix(query, ":demand"):
		return []fakeSeries{{value: minuteValue}}
	case strings.HasSuffix(query, ":queue"):
		return []fakeSeries{{value: func(time.Time) (float64, bool) { return 7, true }}}
	}
	return nil
}

func newSignalsServer(t *testing.T) (*signals, *fakeProm, *Source) {
	t.Helper()
	sig := &signals{}
	fake, srv := newFakeProm(t, sig.series)
	fake.fail = sig.fail
	return sig, fake, sourceFor(t, srv.URL)
}

// checkDemand checks that s has n steps from first, each valued with its minute.
func checkDemand(t *testing.T, what string, s Series, first string, n int) {
	t.Helper()
	if !s.Start.Equal(mustTime(t, first)) || s.Len() != n || s.Step != time.Minute {
		t.Fatalf("%s: got %s, want %d steps of 1m from %s", what, s, n, first)
	}
	for k, v := range s.Values {
		if want, _ := minuteValue(s.At(k)); v != want {
			t.Fatalf("%s: step %d (%s) = %v, want %v", what, k, s.At(k), v, want)
		}
	}
}

// TestCollectorLifecycle follows one target through a backfill, incremental
// reads, a failed read that skips nothing, and a gap longer than the history.
func TestCollectorLifecycle(t *testing.T) {
	sig, fake, src := newSignalsServer(t)
	reg := promclient.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCollector(testTarget("chat"), src, CollectorOptions{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// First call: the hour up to the last whole minute.
	u, err := c.Collect(ctx, mustTime(t, "2025-03-03T10:00:30Z"))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Reset {
		t.Error("first Update is not a Reset")
	}
	checkDemand(t, "backfill", u.Demand, "2025-03-03T09:01:00Z", 60)
	if u.DemandErr != nil {
		t.Errorf("DemandErr = %v", u.DemandErr)
	}
	if !u.QueueDepth.OK() || u.QueueDepth.Value != 7 || !u.QueueDepth.Time.Equal(mustTime(t, "2025-03-03T10:00:30Z")) {
		t.Errorf("QueueDepth = %+v, want 7 at 10:00:30", u.QueueDepth)
	}
	if u.Latency.OK() || !errors.Is(u.Latency.Err, ErrNoData) {
		t.Errorf("Latency = %+v, want no value and ErrNoData", u.Latency)
	}
	if u.GPUUtilization.OK() || u.GPUUtilization.Err != nil {
		t.Errorf("GPUUtilization = %+v, want nothing: the target sets no query", u.GPUUtilization)
	}

	// Within the same minute: nothing new, and no demand request.
	before := len(fake.received())
	u, err = c.Collect(ctx, mustTime(t, "2025-03-03T10:00:59Z"))
	if err != nil {
		t.Fatal(err)
	}
	checkDemand(t, "same minute", u.Demand, "2025-03-03T10:01:00Z", 0)
	if u.Reset {
		t.Error("Reset without a gap")
	}
	for _, r := range fake.received()[before:] {
		if r.query == "chat:demand" {
			t.Errorf("a demand request was sent with no new step: %+v", r)
		}
	}

	// Three minutes later: three new steps.
	u, err = c.Collect(ctx, mustTime(t, "2025-03-03T10:03:10Z"))
	if err != nil {
		t.Fatal(err)
	}
	checkDemand(t, "incremental", u.Demand, "2025-03-03T10:01:00Z", 3)
	checkDemand(t, "history", c.History(), "2025-03-03T09:04:00Z", 60)

	// The demand query fails: nothing is read, nothing is skipped.
	sig.failing.Store("chat:demand")
	u, err = c.Collect(ctx, mustTime(t, "2025-03-03T10:05:00Z"))
	if err == nil || !strings.Contains(err.Error(), "target chat") || !strings.Contains(err.Error(), "demand: ") ||
		!strings.Contains(err.Error(), `"chat:demand"`) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the demand query's failure naming the target and the query", err)
	}
	if u.Demand.Len() != 0 || u.DemandErr == nil {
		t.Errorf("failed read gave %s, %v", u.Demand, u.DemandErr)
	}
	if !u.QueueDepth.OK() {
		t.Errorf("the queue depth was not read while demand failed: %+v", u.QueueDepth)
	}
	sig.failing.Store("")
	u, err = c.Collect(ctx, mustTime(t, "2025-03-03T10:06:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	checkDemand(t, "after the failure", u.Demand, "2025-03-03T10:04:00Z", 3)
	checkDemand(t, "history", c.History(), "2025-03-03T09:07:00Z", 60)

	// Two hours later, more than the history: start over.
	u, err = c.Collect(ctx, mustTime(t, "2025-03-03T12:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Reset {
		t.Error("no Reset after a gap longer than the history")
	}
	checkDemand(t, "second backfill", u.Demand, "2025-03-03T11:01:00Z", 60)

	const want = `
# HELP prescaler_collector_backfilled_samples_total Demand samples (steps with a value) read by history backfills, at start and after a gap longer than the history.
# TYPE prescaler_collector_backfilled_samples_total counter
prescaler_collector_backfilled_samples_total{target="chat"} 120
# HELP prescaler_collector_empty_results_total Collector queries that Prometheus answered with no data (no series matched in the window read).
# TYPE prescaler_collector_empty_results_total counter
prescaler_collector_empty_results_total{query="demand",target="chat"} 0
prescaler_collector_empty_results_total{query="latency",target="chat"} 6
prescaler_collector_empty_results_total{query="queue_depth",target="chat"} 0
# HELP prescaler_collector_last_success_timestamp_seconds Unix time of the last collection in which every configured query of the target was answered without error.
# TYPE prescaler_collector_last_success_timestamp_seconds gauge
prescaler_collector_last_success_timestamp_seconds{target="chat"} 1.741003200e+09
# HELP prescaler_collector_query_errors_total Collector queries that failed: Prometheus unreachable or answering an error, several series instead of one, a malformed result. Empty results are counted in prescaler_collector_empty_results_total instead.
# TYPE prescaler_collector_query_errors_total counter
prescaler_collector_query_errors_total{query="demand",target="chat"} 1
prescaler_collector_query_errors_total{query="latency",target="chat"} 0
prescaler_collector_query_errors_total{query="queue_depth",target="chat"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"prescaler_collector_backfilled_samples_total", "prescaler_collector_empty_results_total",
		"prescaler_collector_last_success_timestamp_seconds", "prescaler_collector_query_errors_total"); err != nil {
		t.Error(err)
	}
	// Demand was queried 5 times (not in the minute with no new step); the
	// optional queries at each of the 6 collections.
	for query, want := range map[string]uint64{QueryDemand: 5, QueryQueueDepth: 6, QueryLatency: 6} {
		if got := histogramCount(t, reg, "prescaler_collector_query_duration_seconds", map[string]string{"target": "chat", "query": query}); got != want {
			t.Errorf("query_duration_seconds{query=%q} count = %d, want %d", query, got, want)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %+v", err, problems)
	}
}

func histogramCount(t *testing.T, reg promclient.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestCollectorTargetsIndependent checks that one target's failures leave
// another's collection and metrics untouched.
func TestCollectorTargetsIndependent(t *testing.T) {
	sig, _, src := newSignalsServer(t)
	reg := promclient.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	good, err := NewCollector(testTarget("good"), src, CollectorOptions{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := NewCollector(testTarget("broken"), src, CollectorOptions{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	sig.failing.Store("broken:queue")
	now := mustTime(t, "2025-03-03T10:00:00Z")
	if _, err := good.Collect(context.Background(), now); err != nil {
		t.Errorf("good target: %v", err)
	}
	u, err := broken.Collect(context.Background(), now)
	if err == nil || !strings.Contains(err.Error(), "queue_depth: ") || strings.Contains(err.Error(), "demand: ") {
		t.Errorf("broken target: err = %v, want the queue depth query's failure only", err)
	}
	checkDemand(t, "broken target's demand", u.Demand, "2025-03-03T09:01:00Z", 60)
	if got := testutil.ToFloat64(m.queryErrors.WithLabelValues("good", QueryQueueDepth)); got != 0 {
		t.Errorf("good target's queue depth errors = %v", got)
	}
	if got := testutil.ToFloat64(m.queryErrors.WithLabelValues("broken", QueryQueueDepth)); got != 1 {
		t.Errorf("broken target's queue depth errors = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.lastSuccess); got != 1 {
		t.Errorf("%d last-success series, want the good target's only", got)
	}

	m.DeleteTarget("broken")
	if got := testutil.CollectAndCount(m.queryErrors); got != 3 {
		t.Errorf("%d error series after deleting a target, want the good target's 3", got)
	}
}

// TestCollectorEmptyDemand checks that steps with no data count as read:
// they are NaN and the next read starts after them.
func TestCollectorEmptyDemand(t *testing.T) {
	var appeared atomic.Bool
	_, srv := newFakeProm(t, func(query string) []fakeSeries {
		if appeared.Load() {
			return []fakeSeries{{value: minuteValue}}
		}
		return nil
	})
	c, err := NewCollector(testTarget("new"), sourceFor(t, srv.URL), CollectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Collect(context.Background(), mustTime(t, "2025-03-03T10:00:00Z"))
	if err != nil {
		t.Fatalf("an empty demand is not a failure: %v", err)
	}
	if !u.Reset || u.Demand.Len() != 60 || u.Demand.Missing() != 60 || !errors.Is(u.DemandErr, ErrNoData) {
		t.Fatalf("got %s, Reset %v, DemandErr %v; want 60 NaN steps, a Reset and ErrNoData", u.Demand, u.Reset, u.DemandErr)
	}
	appeared.Store(true)
	u, err = c.Collect(context.Background(), mustTime(t, "2025-03-03T10:02:00Z"))
	if err != nil || u.DemandErr != nil {
		t.Fatal(err, u.DemandErr)
	}
	checkDemand(t, "first data", u.Demand, "2025-03-03T10:01:00Z", 2)
	h := c.History()
	if h.Len() != 60 || h.Missing() != 58 || math.IsNaN(h.Values[59]) {
		t.Errorf("history %s, want 60 steps, the last 2 with values", h)
	}
}

func TestCollectorLag(t *testing.T) {
	_, _, src := newSignalsServer(t)
	c, err := NewCollector(testTarget("lagged"), src, CollectorOptions{Lag: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Collect(context.Background(), mustTime(t, "2025-03-03T10:00:20Z"))
	if err != nil {
		t.Fatal(err)
	}
	checkDemand(t, "lagged backfill", u.Demand, "2025-03-03T09:00:00Z", 60)
	u, err = c.Collect(context.Background(), mustTime(t, "2025-03-03T10:00:30Z"))
	if err != nil {
		t.Fatal(err)
	}
	checkDemand(t, "the step 10:00 once 30s old", u.Demand, "2025-03-03T10:00:00Z", 1)
}

func TestNewCollectorRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Target)
		want   string
	}{
		{"no name", func(t *config.Target) { t.Name = "" }, "no name"},
		{"no demand", func(t *config.Target) { t.Queries.Demand = "" }, "no demand query"},
		{"no step", func(t *config.Target) { t.Forecast.Step = 0 }, "forecast step"},
		{"history under a step", func(t *config.Target) { t.Forecast.History = config.Duration(30 * time.Second) }, "forecast history"},
		{"history too long", func(t *config.Target) {
			t.Forecast.Step = config.Duration(time.Second)
			t.Forecast.History = config.Duration(10000 * time.Hour)
		}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := testTarget("x")
			tc.change(&target)
			if _, err := NewCollector(target, nil, CollectorOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewMetricsTwice(t *testing.T) {
	reg := promclient.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}
