// Package prometheus is prescaler's Prometheus source: it runs a target's
// PromQL queries and converts the answers, at this boundary, into plain
// values (Series, Sample) that the forecaster and the decision core take.
// Nothing of the Prometheus API goes further.
//
// Two layers, and the query metrics:
//
//   - New builds a Source from config.Prometheus: a client_golang API client
//     with a timeout per request, TLS, and a bearer token or basic-auth
//     password read from files and read again when they change.
//   - Source.Range reads a query over a window on a step grid, split into
//     requests under Prometheus' limit of 11,000 points per series;
//     Source.Latest reads a query's newest value and when it was evaluated.
//     The daemon's adapters (daemon/adapters) call them per target: the
//     demand steps completed since its last read (the whole history on the
//     first), then the latest queue depth, latency and GPU utilization.
//   - Metrics records each query's duration, failures and empty answers per
//     target and query.
//
// # The step grid
//
// A demand series is sampled on a grid of forecast.step anchored at the Unix
// epoch (the multiples of step): a backfill and every later incremental read
// land on the same instants, so consecutive reads join without a duplicated
// or missing step. Values[k] is the query evaluated at Start + k·Step, which
// in PromQL describes the window that ends there: with rate(x[1m]) the step
// at 10:05 is the minute from 10:04 to 10:05.
//
// # From a per-second rate to per-step demand
//
// Prometheus counters count requests; rate() turns them into requests per
// second. The forecaster takes one demand value per step, in the unit
// replicaCapacity uses: the configuration documents requests per minute. A
// demand query for a step of s should therefore be
//
//	sum(rate(requests_total{…}[s])) * 60
//
// with the range selector equal to the step: the value at each grid point is
// then the mean request rate over exactly the step that ends there, scaled to
// requests per minute, and consecutive steps tile time. For a step of 1m this
// is the example configuration's [1m]; for a step of 5m write [5m] and keep
// "* 60": the demand stays a rate in requests per minute (the mean over the
// five minutes), so replicaCapacity keeps its meaning whatever the step. (It
// is not the count per step; that would be increase(x[5m]), five times
// larger.)
//
// A range shorter than the step samples only part of each step and misses
// bursts between samples; a longer one smooths across neighbouring steps
// and delays the forecast's view of a ramp. rate() needs two samples in its
// range, so the range must also span at least two scrape intervals (four is
// comfortable): with a 30s scrape interval and a 1m step, [1m] is the
// minimum. Counter resets (pod restarts) are handled by rate(); the sum must
// aggregate every pod into one series, or the query is rejected.
//
// The integration test checks this on a real Prometheus: a counter scraped
// every 15 seconds, built from the NASA trace's per-minute counts, read back
// with rate(x[1m]) * 60 at a 1m step, gives every minute's count.
//
// # Missing data and staleness
//
// A step where the query has no value (no sample within Prometheus' lookback,
// a 0/0) is NaN: the forecaster fills and counts it. An infinite value is
// passed on as it is, for the daemon to refuse and count as not finite. A
// query that matches nothing in a whole window is reported with ErrNoData;
// one that returns several series is an error naming their label sets,
// because summing or picking one silently would forecast the wrong thing.
// Such an answer is refused while it streams in, once it holds more series
// than the error lists, and every response body is capped at
// MaxResponseBytes, so a query that forgot its sum() costs a few megabytes
// a loop, not the whole answer.
//
// Latest returns the newest instant, among the last few steps, at which the
// query had a value. For a query built on rate() or histogram_quantile() an
// older instant shows the signal went quiet; for a plain gauge Prometheus
// repeats the last sample for up to its lookback delta (5m by default) unless
// the target disappeared with a staleness marker, so a gauge reads as fresh
// for that long.
package prometheus
