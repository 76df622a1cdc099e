package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	promsrc "github.com/prescaler/prescaler/collector/prometheus"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/test/testbed"
)

// Two weeks of the NASA trace: the default forecast.history at the default
// 1m step, 20,160 steps, more than the 11,000 one request may ask for.
const (
	traceDays  = 14
	traceSteps = traceDays * 1440
	// The metrics backfilled into Prometheus.
	gaugeQuery   = `prescaler_it_demand_per_minute{trace="nasa"}`
	counterQuery = `rate(prescaler_it_requests_total{trace="nasa"}[1m]) * 60`
	// teams is the number of per-team series the grouped queries read.
	teams = 10
)

// TestPrometheusIntegration runs the source against a real Prometheus (the
// testbed's), backfilled with two weeks of the NASA trace's per-minute
// counts, written twice:
//
//   - as a gauge with one sample per minute, the count of the minute ending
//     at that sample, read back with the gauge itself;
//   - as a counter scraped every 15 seconds, the requests spread evenly over
//     each minute, read back with rate(x[1m]) * 60: the demand query
//     documented in the package, whose value at each 1m grid point must be
//     that minute's count.
func TestPrometheusIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus (test/testbed)")
	}
	trace := testtraces.Load(t, testtraces.NASA, 1)
	if trace.Len() < traceSteps {
		t.Fatalf("NASA trace has %d minutes, want at least %d", trace.Len(), traceSteps)
	}
	counts := trace.Values[:traceSteps]

	// The trace is moved to end a day before now, on a minute boundary: the
	// testbed's Prometheus scrapes itself, and its retention is counted back
	// from its newest sample. Step i is the minute ending at first+i·1m.
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -traceDays-1)
	last := first.Add((traceSteps - 1) * time.Minute)
	at := func(i int) time.Time { return first.Add(time.Duration(i) * time.Minute) }

	gauge := testbed.Series{Name: "prescaler_it_demand_per_minute", Labels: map[string]string{"trace": "nasa"}}
	for i, v := range counts {
		gauge.Samples = append(gauge.Samples, testbed.Sample{Time: at(i), Value: v})
	}
	// The counter at first+i·1m is the sum of the counts up to i; in the
	// minute before, it rises linearly by counts[i]. It starts a minute
	// before first so that the rate at first has its window.
	counter := testbed.Series{Name: "prescaler_it_requests_total", Labels: map[string]string{"trace": "nasa"}}
	total := 0.0
	for i, v := range counts {
		for q := 1; q <= 4; q++ {
			counter.Samples = append(counter.Samples, testbed.Sample{
				Time: at(i).Add(time.Duration(q-4) * 15 * time.Second), Value: total + v*float64(q)/4})
		}
		total += v
	}
	counter.Samples = append(counter.Samples, testbed.Sample{Time: first.Add(-time.Minute), Value: 0})

	// Ten teams' demand over the trace's last day: the NASA counts times
	// the team's number, for the grouped queries.
	history := []testbed.Series{gauge, counter}
	for team := range teams {
		s := testbed.Series{Name: "prescaler_it_team_demand", Labels: map[string]string{"namespace": fmt.Sprintf("team-%d", team), "service": "llm"}}
		for i := traceSteps - 1440; i < traceSteps; i++ {
			s.Samples = append(s.Samples, testbed.Sample{Time: at(i), Value: counts[i] * float64(team+1)})
		}
		history = append(history, s)
	}
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: history}})
	ctx := t.Context()
	cfg := config.Prometheus{URL: env.PrometheusURL, Timeout: config.Duration(30 * time.Second)}
	src, err := promsrc.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("backfill returns every sample", func(t *testing.T) {
		s, err := src.Range(ctx, gaugeQuery, first, last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		checkTrace(t, s, first, counts, 0)
	})

	t.Run("rate times 60 is the count per minute", func(t *testing.T) {
		s, err := src.Range(ctx, counterQuery, first, last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// rate() extrapolates the 45s its four samples span to the whole
		// minute: exact for a counter linear within the minute, up to
		// floating point.
		checkTrace(t, s, first, counts, 1e-9)
	})

	t.Run("chunks", func(t *testing.T) {
		raw := rawAPI(t, env.PrometheusURL)
		// Asked in one request, Prometheus refuses the window.
		one := promsrc.NewSource(raw, promsrc.SourceOptions{URL: env.PrometheusURL, MaxPointsPerRequest: traceSteps})
		if _, err := one.Range(ctx, gaugeQuery, first, last, time.Minute); err == nil || !strings.Contains(err.Error(), "11,000") {
			t.Fatalf("one request for %d steps: err = %v, want Prometheus' 11,000 points limit", traceSteps, err)
		}
		for _, limit := range []int{promsrc.MaxPointsPerRequest, 997} {
			rec := &recorder{api: raw}
			s, err := promsrc.NewSource(rec, promsrc.SourceOptions{URL: env.PrometheusURL, MaxPointsPerRequest: limit}).
				Range(ctx, gaugeQuery, first, last, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			checkTrace(t, s, first, counts, 0)
			rec.checkTiles(t, first, last, time.Minute, limit)
		}
	})

	t.Run("window off the grid and at a 5m step", func(t *testing.T) {
		// From 90s after first to 10 minutes before last, at 5m: the gauge
		// at each 5m grid point is the count of the minute ending there.
		s, err := src.Range(ctx, gaugeQuery, first.Add(90*time.Second), last.Add(-10*time.Minute), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		firstOn := first.Add(5 * time.Minute) // first is midnight: on every grid
		if !s.Start.Equal(firstOn) || s.Len() != (traceSteps-1-10-5)/5+1 {
			t.Fatalf("got %s, want the 5m grid from %s", s, firstOn)
		}
		for k, v := range s.Values {
			if want := counts[5+5*k]; v != want {
				t.Fatalf("step %d (%s) = %v, want %v", k, s.At(k), v, want)
			}
		}
	})

	t.Run("latest and staleness", func(t *testing.T) {
		s, err := src.Latest(ctx, gaugeQuery, last, time.Minute)
		if err != nil || !s.Time.Equal(last) || s.Value != counts[traceSteps-1] {
			t.Fatalf("Latest at the last sample = %+v, %v; want %v at %s", s, err, counts[traceSteps-1], last)
		}
		// The rate has no value after the counter's last sample: Latest
		// goes back to it.
		s, err = src.Latest(ctx, counterQuery, last.Add(3*time.Minute), time.Minute)
		if err != nil || !s.Time.Equal(last) {
			t.Fatalf("Latest 3m after the end = %+v, %v; want the value at %s", s, err, last)
		}
		_, err = src.Latest(ctx, counterQuery, last.Add(time.Hour), time.Minute)
		if !errors.Is(err, promsrc.ErrNoData) {
			t.Fatalf("Latest an hour after the end: err = %v, want ErrNoData", err)
		}
		_, err = src.Latest(ctx, `label_replace(vector(1), "pod", "a", "", "") or label_replace(vector(2), "pod", "b", "", "")`, last, time.Minute)
		var mse *promsrc.MultipleSeriesError
		if !errors.As(err, &mse) || !strings.Contains(err.Error(), `{pod="a"}, {pod="b"}`) {
			t.Fatalf("a query of two series: err = %v, want a MultipleSeriesError naming their labels", err)
		}
	})

	t.Run("grouped queries give each target its own answer", func(t *testing.T) {
		reg := promclient.NewRegistry()
		metrics, err := promsrc.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		now := last.Add(-time.Hour)
		b := promsrc.NewBatcher(src, promsrc.BatcherOptions{Metrics: metrics, Now: func() time.Time { return now }})
		query := func(team int) string {
			return fmt.Sprintf(`sum(prescaler_it_team_demand{namespace="team-%d",service="llm"}) * 2`, team)
		}
		sent := func(kind string) float64 {
			return testutil.ToFloat64(metricWithKind(t, reg, kind))
		}
		for loop := range 3 {
			grouped, single := sent(promsrc.RequestGrouped), sent(promsrc.RequestSingle)
			for team := range teams {
				got, err := b.Range(ctx, query(team), now.Add(-4*time.Minute), now, time.Minute)
				want, wantErr := src.Range(ctx, query(team), now.Add(-4*time.Minute), now, time.Minute)
				if err != nil || wantErr != nil || !slices.Equal(got.Values, want.Values) || !got.Start.Equal(want.Start) {
					t.Fatalf("loop %d, team %d: grouped %v (%v), alone %v (%v)", loop, team, got, err, want, wantErr)
				}
				if got.Values[4] != 2*counts[int(now.Sub(first)/time.Minute)]*float64(team+1) {
					t.Fatalf("team %d at %s: %v", team, now, got.Values[4])
				}
				gotL, err := b.Latest(ctx, query(team), now.Add(30*time.Second), time.Minute)
				wantL, wantErr := src.Latest(ctx, query(team), now.Add(30*time.Second), time.Minute)
				if err != nil || wantErr != nil || gotL != wantL {
					t.Fatalf("loop %d, team %d latest: grouped %v (%v), alone %v (%v)", loop, team, gotL, err, wantL, wantErr)
				}
			}
			g, s := sent(promsrc.RequestGrouped)-grouped, sent(promsrc.RequestSingle)-single
			if loop > 0 && (g != 2 || s != 0) {
				t.Errorf("loop %d over %d teams: %v grouped and %v single queries sent, want 2 and 0", loop, teams, g, s)
			}
			now = now.Add(time.Minute)
		}
	})

	t.Run("Prometheus stopped and started", func(t *testing.T) {
		reg := promclient.NewPedanticRegistry()
		m, err := promsrc.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		// Prometheus goes away: each error names the server, the query and
		// the cause, and is counted per target and query.
		if err := env.StopComponent(testbed.Prometheus); err != nil {
			t.Fatal(err)
		}
		_, err = src.Range(ctx, counterQuery, first, last, time.Minute)
		m.ObserveQuery("nasa", promsrc.QueryDemand, 0.1, err)
		for _, want := range []string{env.PrometheusURL, strconv.Quote(counterQuery), "connection refused"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Range with Prometheus stopped: err = %v, want it to name %q", err, want)
			}
		}
		_, err = src.Latest(ctx, `vector(3)`, last, time.Minute)
		m.ObserveQuery("nasa", promsrc.QueryQueueDepth, 0.1, err)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Latest with Prometheus stopped: err = %v", err)
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP prescaler_collector_query_errors_total Queries that failed: Prometheus unreachable or answering an error, several series instead of one, a malformed result. Empty results are counted in prescaler_collector_empty_results_total instead.
# TYPE prescaler_collector_query_errors_total counter
prescaler_collector_query_errors_total{query="demand",target="nasa"} 1
prescaler_collector_query_errors_total{query="queue_depth",target="nasa"} 1
`), "prescaler_collector_query_errors_total"); err != nil {
			t.Error(err)
		}
		// Back again: the same window reads the same trace, so a reader that
		// retries from its last complete step loses nothing.
		if err := env.StartComponent(ctx, testbed.Prometheus); err != nil {
			t.Fatal(err)
		}
		got, err := src.Range(ctx, counterQuery, first, last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		checkTrace(t, got, first, counts, 1e-9)
	})
}

// checkTrace checks that s is the trace from first, step for step, within a
// relative tolerance.
func checkTrace(t *testing.T, s promsrc.Series, first time.Time, counts []float64, tol float64) {
	t.Helper()
	if !s.Start.Equal(first) || s.Step != time.Minute || s.Len() != len(counts) {
		t.Fatalf("got %s, want %d steps of 1m from %s", s, len(counts), first)
	}
	if s.Missing() != 0 {
		t.Errorf("%d steps missing", s.Missing())
	}
	bad := 0
	for i, v := range s.Values {
		if want := counts[i]; !(math.Abs(v-want) <= tol*math.Max(1, want)) {
			if bad++; bad <= 5 {
				t.Errorf("step %d (%s) = %v, want %v", i, s.At(i).Format(time.RFC3339), v, want)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%d steps differ in all", bad)
	}
}

// metricWithKind is prescaler_collector_queries_sent_total{kind}.
func metricWithKind(t *testing.T, reg *promclient.Registry, kind string) promclient.Collector {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "prescaler_collector_queries_sent_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == kind {
				c := promclient.NewCounter(promclient.CounterOpts{Name: "sent"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no prescaler_collector_queries_sent_total{kind=%q}", kind)
	return nil
}

func rawAPI(t *testing.T, url string) v1.API {
	t.Helper()
	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(client)
}

// recorder passes range queries through and records their windows.
type recorder struct {
	api    promsrc.RangeQuerier
	mu     sync.Mutex
	ranges []v1.Range
}

func (r *recorder) QueryRange(ctx context.Context, query string, rg v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	r.mu.Lock()
	r.ranges = append(r.ranges, rg)
	r.mu.Unlock()
	return r.api.QueryRange(ctx, query, rg, opts...)
}

// checkTiles checks that the requests tile [first, last] in order, each at
// most limit points, none overlapping or leaving a gap.
func (r *recorder) checkTiles(t *testing.T, first, last time.Time, step time.Duration, limit int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	steps := int(last.Sub(first)/step) + 1
	if want := (steps + limit - 1) / limit; len(r.ranges) != want {
		t.Errorf("%d requests of at most %d points for %d steps, want %d", len(r.ranges), limit, steps, want)
	}
	next := first
	for i, rg := range r.ranges {
		if !rg.Start.Equal(next) || rg.Step != step || int(rg.End.Sub(rg.Start)/step)+1 > limit {
			t.Errorf("request %d: %s to %s step %s; want it to start at %s with at most %d points", i, rg.Start, rg.End, rg.Step, next, limit)
		}
		next = rg.End.Add(step)
	}
	if !next.Equal(last.Add(step)) {
		t.Errorf("requests end at %s, want %s", next.Add(-step), last)
	}
}
