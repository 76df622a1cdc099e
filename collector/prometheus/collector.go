package prometheus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prescaler/prescaler/config"
)

// SignalReader is what a Collector reads through; *Source implements it.
type SignalReader interface {
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (Series, error)
	Latest(ctx context.Context, query string, at time.Time, step time.Duration) (Sample, error)
}

// CollectorOptions are a Collector's optional settings.
type CollectorOptions struct {
	// Metrics receives the query metrics; nil records none.
	Metrics *Metrics
	// Lag holds back the newest demand steps: a step is read once it is
	// older than Lag, so that the scrapes (or remote writes) that fall in it
	// have arrived. Once read, a step is not read again. About one scrape
	// interval is enough for a Prometheus that scrapes the workload itself;
	// 0 reads every step as soon as it is on the grid.
	Lag time.Duration
	// Clock measures query durations; nil means time.Now. Collection times
	// are passed to Collect, never read from it.
	Clock func() time.Time
}

// Collector gathers one target's signals: the demand history the forecaster
// is fed, one value per forecast step, and the latest queue depth, latency
// and GPU utilization. The daemon holds one per target and calls Collect
// every loop; one target's failure never touches another's Collector.
//
// Collect must not be called concurrently with itself; History may be called
// at any time.
type Collector struct {
	target  string
	queries config.Queries
	step    time.Duration
	window  int // steps of history kept
	src     SignalReader
	opts    CollectorOptions

	collecting sync.Mutex
	mu         sync.Mutex
	history    Series // the last window steps read, contiguous; empty before the first backfill
}

// NewCollector returns the Collector of target, reading through src. The
// target must carry a name, a demand query and a forecast step and history
// (config.Validate ensures all three).
func NewCollector(target config.Target, src SignalReader, opts CollectorOptions) (*Collector, error) {
	step, history := time.Duration(target.Forecast.Step), time.Duration(target.Forecast.History)
	switch {
	case target.Name == "":
		return nil, errors.New("collector: target has no name")
	case target.Queries.Demand == "":
		return nil, fmt.Errorf("collector: target %s has no demand query", target.Name)
	case step <= 0 || step%time.Millisecond != 0:
		return nil, fmt.Errorf("collector: target %s: forecast step %s must be a positive whole number of milliseconds", target.Name, step)
	case history < step:
		return nil, fmt.Errorf("collector: target %s: forecast history %s is shorter than one step %s", target.Name, history, step)
	case history/step > maxSeriesPoints:
		return nil, fmt.Errorf("collector: target %s: forecast history %s is more than %d steps of %s", target.Name, history, maxSeriesPoints, step)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Collector{
		target:  target.Name,
		queries: target.Queries,
		step:    step,
		window:  int(history / step),
		src:     src,
		opts:    opts,
	}
	opts.Metrics.initTarget(c.target, c.configured())
	return c, nil
}

// Target returns the name of the target collected.
func (c *Collector) Target() string { return c.target }

// configured returns the names of the queries the target sets.
func (c *Collector) configured() []string {
	names := []string{QueryDemand}
	for _, o := range c.optional() {
		if o.query != "" {
			names = append(names, o.name)
		}
	}
	return names
}

type optionalQuery struct {
	name, query string
}

func (c *Collector) optional() [3]optionalQuery {
	return [3]optionalQuery{
		{QueryQueueDepth, c.queries.QueueDepth},
		{QueryLatency, c.queries.Latency},
		{QueryGPUUtilization, c.queries.GPUUtilization},
	}
}

// Reading is the latest value of one signal.
type Reading struct {
	// Sample is the value and the instant it was evaluated at; its Time is
	// zero when there is none. An instant older than the collection time
	// means the query had no value since: the caller decides how stale is
	// too stale.
	Sample
	// Err says why there is no value: a failed query, or one that wraps
	// ErrNoData. It is nil for a query the target does not set.
	Err error
}

// OK reports whether the reading holds a value.
func (r Reading) OK() bool { return !r.Time.IsZero() }

// Update is what one Collect read.
type Update struct {
	// At is the collection time passed to Collect.
	At time.Time
	// Demand holds the demand steps that are new since the previous Collect,
	// in order and contiguous with them: feed each value to the forecaster.
	// It is empty when no step completed since (or the query failed; then
	// the same steps are read at the next Collect, so none is skipped).
	//
	// When Reset is true, Demand is the whole history window instead: the
	// first backfill, or a new one after a gap longer than the history. The
	// forecaster starts afresh on it.
	Demand Series
	Reset  bool
	// DemandErr is why Demand is empty or all NaN: a failed query, or one
	// that wraps ErrNoData (the steps are then NaN and still count as read).
	DemandErr error
	// The latest values of the optional signals; a Reading with no value
	// and no error is a query the target does not set.
	QueueDepth     Reading
	Latency        Reading
	GPUUtilization Reading
}

// Collect reads what is new at now: the demand steps completed since the
// previous call (the whole history window on the first call), and the latest
// value of each optional query (looking back DefaultLatestSteps forecast
// steps, see Source.Latest). The queries run concurrently; ctx bounds them
// all, and the Source's timeout bounds each request.
//
// The Update is always usable: a signal that could not be read is empty and
// carries its error. The returned error joins the queries that failed
// (Prometheus unreachable or answering an error, several series, a malformed
// result); a query answered with no data is not a failure, only reported in
// the Update. When no query failed, the target's last-success time is set
// to now.
func (c *Collector) Collect(ctx context.Context, now time.Time) (Update, error) {
	c.collecting.Lock()
	defer c.collecting.Unlock()

	u := Update{At: now}
	readings := [3]*Reading{&u.QueueDepth, &u.Latency, &u.GPUUtilization}
	var wg sync.WaitGroup
	wg.Go(func() { u.Demand, u.Reset, u.DemandErr = c.demand(ctx, now) })
	for i, o := range c.optional() {
		if o.query != "" {
			wg.Go(func() { *readings[i] = c.latest(ctx, o, now) })
		}
	}
	wg.Wait()

	var failed []error
	if failure(u.DemandErr) {
		failed = append(failed, fmt.Errorf("%s: %w", QueryDemand, u.DemandErr))
	}
	for i, o := range c.optional() {
		if failure(readings[i].Err) {
			failed = append(failed, fmt.Errorf("%s: %w", o.name, readings[i].Err))
		}
	}
	if len(failed) > 0 {
		return u, fmt.Errorf("target %s: %w", c.target, errors.Join(failed...))
	}
	c.opts.Metrics.succeeded(c.target, float64(now.UnixNano())/1e9)
	return u, nil
}

func failure(err error) bool { return err != nil && !errors.Is(err, ErrNoData) }

// demand reads the new demand steps, or backfills the history window.
func (c *Collector) demand(ctx context.Context, now time.Time) (Series, bool, error) {
	stepMs := c.step.Milliseconds()
	lastMs := gridFloor(now.Add(-c.opts.Lag), stepMs)
	last := time.UnixMilli(lastMs).UTC()

	c.mu.Lock()
	next, have := c.history.End(), c.history.Len() > 0
	c.mu.Unlock()

	if have {
		if last.Before(next) {
			return Series{Start: next, Step: c.step}, false, nil
		}
		if int(last.Sub(next)/c.step)+1 <= c.window {
			s, err := c.read(ctx, next, last)
			if failure(err) {
				return Series{Start: next, Step: c.step}, false, err
			}
			c.mu.Lock()
			c.history = appendWindow(c.history, s, c.window)
			c.mu.Unlock()
			return s, false, err
		}
		// A gap longer than the history: what is kept is too old to
		// continue; start over.
	}

	first := last.Add(-time.Duration(c.window-1) * c.step)
	s, err := c.read(ctx, first, last)
	if failure(err) {
		return Series{Start: first, Step: c.step}, false, err
	}
	c.opts.Metrics.addBackfilled(c.target, s.Len()-s.Missing())
	c.mu.Lock()
	c.history = Series{Start: s.Start, Step: s.Step, Values: append([]float64(nil), s.Values...)}
	c.mu.Unlock()
	return s, true, err
}

// read runs the demand range query from first to last (grid points) and
// checks that the reader kept to the grid asked for.
func (c *Collector) read(ctx context.Context, first, last time.Time) (Series, error) {
	begin := c.opts.Clock()
	s, err := c.src.Range(ctx, c.queries.Demand, first, last, c.step)
	if err == nil || errors.Is(err, ErrNoData) {
		if want := int(last.Sub(first)/c.step) + 1; !s.Start.Equal(first) || s.Step != c.step || s.Len() != want {
			err = fmt.Errorf("demand query read %s, want %d steps of %s from %s", s, want, c.step, first.Format(time.RFC3339))
		}
	}
	c.opts.Metrics.ObserveQuery(c.target, QueryDemand, c.opts.Clock().Sub(begin).Seconds(), err)
	return s, err
}

// latest reads the newest value of an optional query.
func (c *Collector) latest(ctx context.Context, o optionalQuery, now time.Time) Reading {
	begin := c.opts.Clock()
	s, err := c.src.Latest(ctx, o.query, now, c.step)
	c.opts.Metrics.ObserveQuery(c.target, o.name, c.opts.Clock().Sub(begin).Seconds(), err)
	if err != nil {
		return Reading{Err: err}
	}
	return Reading{Sample: s}
}

// appendWindow appends s, which starts where h ends, to h and keeps the last
// window steps. The result does not share memory with s.
func appendWindow(h, s Series, window int) Series {
	values := append(h.Values, s.Values...)
	if drop := len(values) - window; drop > 0 {
		values = values[drop:]
		h.Start = h.Start.Add(time.Duration(drop) * h.Step)
	}
	if cap(values) > 2*window { // keep the backing array from creeping
		values = append([]float64(nil), values...)
	}
	h.Values = values
	return h
}

// History returns a copy of the demand history held: the last
// forecast.history of steps read, contiguous, NaN where there was no value.
// It is empty before the first successful Collect.
func (c *Collector) History() Series {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history
	h.Values = append([]float64(nil), h.Values...)
	return h
}
