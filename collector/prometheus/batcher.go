package prometheus

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// GroupQuerier is a source that answers single-series queries (Range,
// Latest) and grouped ones (RangeGroup, LatestGroup): *Source, or a
// wrapper that swaps Sources on a config reload.
type GroupQuerier interface {
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (Series, error)
	Latest(ctx context.Context, query string, at time.Time, step time.Duration) (Sample, error)
	RangeGroup(ctx context.Context, query string, start, end time.Time, step time.Duration, maxSeries int) ([]LabeledSeries, error)
	LatestGroup(ctx context.Context, query string, at time.Time, step time.Duration, maxSeries int) ([]LabeledSample, error)
	URL() string
}

// BatcherOptions configure a Batcher; zero values take the defaults.
type BatcherOptions struct {
	// MaxSteps is the longest Range window read in a group (default 60
	// steps): the steps completed since the last loop, not a history.
	MaxSteps int
	// ShareSteps is the shortest window a grouped Range reads, back from
	// its end (default 5 steps, at most MaxSteps): targets that are a few
	// steps behind the others (a loop that ended before their read) ask
	// for longer windows with the same end, and are answered from the same
	// request instead of one request per distinct start.
	ShareSteps int
	// Forget is how long a query stays in its group without being asked
	// for (default 10 minutes), and how long a group whose query failed
	// reads its members one by one before it tries again.
	Forget time.Duration
	// CallTTL is how long a group answer serves the queries of its window
	// (default 1 minute): one loop over every target.
	CallTTL time.Duration
	// Metrics counts the requests sent (nil: none).
	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Batcher reads queries of one shape (see shape) together. Asked for a
// query over a window, it reads that window for every query of the same
// shape asked for lately, in one request, and answers this query and the
// others asked for the same window from that one answer. With targets
// whose queries follow one pattern (the label values their objects fill
// in), a loop sends one request per pattern and window instead of one per
// target.
//
// A query without a shape, a window longer than MaxSteps, a query first
// seen after its group's window was read, and any query of a group whose
// grouped request failed, are read on their own, as Source would.
type Batcher struct {
	src  GroupQuerier
	opts BatcherOptions

	mu     sync.Mutex
	shapes map[string]shapeEntry // parsed queries
	groups map[string]*group     // by shape key
}

type shapeEntry struct {
	shape shape
	ok    bool
}

// group is the queries of one shape.
type group struct {
	members map[string]groupMember // by query
	calls   map[callKey]*call
	// failedUntil: the last grouped request failed; read one by one until then.
	failedUntil time.Time
}

type groupMember struct {
	values []string
	seen   time.Time
}

// callKey is one window: a Range's grid, or a Latest's instant.
type callKey struct {
	latest     bool
	start, end time.Time
	step       time.Duration
}

// call is one grouped request, shared by the queries it read.
type call struct {
	done    chan struct{}
	made    time.Time
	members map[string]bool
	// values are the key values of every member, in the shape's label
	// order; template is one member's query, which the group query is
	// built from.
	values   [][]string
	template string
	series   map[string][]LabeledSeries // by tuple key, Range
	samples  map[string][]LabeledSample // by tuple key, Latest
	err      error
}

// NewBatcher returns a Batcher reading through src.
func NewBatcher(src GroupQuerier, opts BatcherOptions) *Batcher {
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 60
	}
	if opts.ShareSteps <= 0 {
		opts.ShareSteps = 5
	}
	opts.ShareSteps = min(opts.ShareSteps, opts.MaxSteps)
	if opts.Forget <= 0 {
		opts.Forget = 10 * time.Minute
	}
	if opts.CallTTL <= 0 {
		opts.CallTTL = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Batcher{src: src, opts: opts, shapes: map[string]shapeEntry{}, groups: map[string]*group{}}
}

// URL is the source's.
func (b *Batcher) URL() string { return b.src.URL() }

// Range implements the adapters' PromQL: Source.Range's answer for query.
func (b *Batcher) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (Series, error) {
	if step > 0 && int(end.Sub(start)/step)+1 <= b.opts.MaxSteps {
		key := callKey{start: b.sharedStart(start, end, step), end: end, step: step}
		if c, s, ok := b.share(ctx, query, key); ok {
			return b.rangeOf(c, s, query, start, end, step)
		}
	} else if s, ok := b.shapeOf(query); ok {
		// A history read alone still makes the query known to its group,
		// so the next window is read together from the first.
		b.note(query, s)
	}
	b.opts.Metrics.ObserveRequest(RequestSingle)
	return b.src.Range(ctx, query, start, end, step)
}

// sharedStart is the start of the grouped read that answers [start, end]:
// at least ShareSteps back from end, so the windows of targets a few steps
// apart key the same call.
func (b *Batcher) sharedStart(start, end time.Time, step time.Duration) time.Time {
	widest := end.Add(-time.Duration(b.opts.ShareSteps-1) * step)
	if start.Before(widest) {
		return start
	}
	return widest
}

// Latest implements the adapters' PromQL: Source.Latest's answer for query.
func (b *Batcher) Latest(ctx context.Context, query string, at time.Time, step time.Duration) (Sample, error) {
	if c, s, ok := b.share(ctx, query, callKey{latest: true, end: at, step: step}); ok {
		return b.latestOf(c, s, query, at, step)
	}
	b.opts.Metrics.ObserveRequest(RequestSingle)
	return b.src.Latest(ctx, query, at, step)
}

// share finds or makes the group call of query's shape for key, and waits
// for it; ok is false when query is read on its own instead.
func (b *Batcher) share(ctx context.Context, query string, key callKey) (*call, shape, bool) {
	s, ok := b.shapeOf(query)
	if !ok {
		return nil, shape{}, false
	}
	c, mine, in := b.join(query, s, key)
	if !in {
		return nil, shape{}, false
	}
	if mine {
		b.run(ctx, c, s, key)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, shape{}, false
	}
	if c.err != nil {
		return nil, shape{}, false
	}
	return c, s, true
}

// shapeOf parses query once.
func (b *Batcher) shapeOf(query string) (shape, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, seen := b.shapes[query]
	if !seen {
		e.shape, e.ok = parseShape(query)
		b.shapes[query] = e
	}
	return e.shape, e.ok
}

// note records query as asked for now, in its group.
func (b *Batcher) note(query string, s shape) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.groupOf(s.key).members[query] = groupMember{values: s.values, seen: b.opts.Now()}
}

// groupOf returns the group of a shape key, made when new. b.mu is held.
func (b *Batcher) groupOf(key string) *group {
	g := b.groups[key]
	if g == nil {
		g = &group{members: map[string]groupMember{}, calls: map[callKey]*call{}}
		b.groups[key] = g
	}
	return g
}

// join records query as asked for now and returns the call for key: an
// existing one (mine false) or a new one over every member asked for
// lately (mine true: the caller runs it). in is false when query is not
// in the call (it joined its group after the call was made) or the group
// reads one by one for now.
func (b *Batcher) join(query string, s shape, key callKey) (c *call, mine, in bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	g := b.groupOf(s.key)
	g.members[query] = groupMember{values: s.values, seen: now}
	if now.Before(g.failedUntil) {
		return nil, false, false
	}
	for k, old := range g.calls {
		if now.Sub(old.made) > b.opts.CallTTL {
			delete(g.calls, k)
		}
	}
	if c = g.calls[key]; c != nil {
		return c, false, c.members[query]
	}
	c = &call{done: make(chan struct{}), made: now, members: map[string]bool{}}
	for q, m := range g.members {
		if now.Sub(m.seen) > b.opts.Forget {
			delete(g.members, q)
			continue
		}
		c.members[q] = true
		c.values = append(c.values, m.values)
	}
	c.template = query
	g.calls[key] = c
	return c, true, true
}

// run sends a call's grouped request and files the answer by key values.
func (b *Batcher) run(ctx context.Context, c *call, s shape, key callKey) {
	defer close(c.done)
	q, err := groupQuery(c.template, s, c.values)
	if err == nil {
		maxSeries := max(64, 4*len(c.values))
		b.opts.Metrics.ObserveRequest(RequestGrouped)
		if key.latest {
			var samples []LabeledSample
			if samples, err = b.src.LatestGroup(ctx, q, key.end, key.step, maxSeries); err == nil {
				c.samples = map[string][]LabeledSample{}
				for _, ls := range samples {
					t := tupleKey(tupleOf(ls.Labels, s.labels))
					c.samples[t] = append(c.samples[t], ls)
				}
			}
		} else {
			var series []LabeledSeries
			if series, err = b.src.RangeGroup(ctx, q, key.start, key.end, key.step, maxSeries); err == nil {
				c.series = map[string][]LabeledSeries{}
				for _, ls := range series {
					t := tupleKey(tupleOf(ls.Labels, s.labels))
					c.series[t] = append(c.series[t], ls)
				}
			}
		}
	}
	if err != nil {
		c.err = err
		b.failed(ctx, s.key, len(c.values), err)
	}
}

// failed makes a group read one by one for Forget after its request
// failed, unless the caller gave up (its context ended): the members then
// try their own requests, and a shared fault (Prometheus down) reports
// through each of them.
func (b *Batcher) failed(ctx context.Context, shapeKey string, members int, err error) {
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	if g := b.groups[shapeKey]; g != nil {
		g.failedUntil = b.opts.Now().Add(b.opts.Forget)
	}
	b.mu.Unlock()
	b.opts.Logger.Warn("a grouped Prometheus query failed; its queries are read one by one for a while",
		"queries", members, "for", b.opts.Forget, "err", err)
}

// tupleOf is a series' values of the key labels.
func tupleOf(m model.Metric, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(m[model.LabelName(k)])
	}
	return out
}

// rangeOf is query's part of a grouped Range answer, as Range would have
// returned it alone.
func (b *Batcher) rangeOf(c *call, s shape, query string, start, end time.Time, step time.Duration) (Series, error) {
	mine := c.series[tupleKey(s.values)]
	qerr := func(err error) error {
		return &QueryError{URL: b.src.URL(), Query: query, Start: start, End: end, Step: step, Err: err}
	}
	stepMs, _ := gridStep(step)
	first, last := gridCeil(start, stepMs), gridFloor(end, stepMs)
	n := int(max(0, (last-first)/stepMs+1))
	switch len(mine) {
	case 0:
		return nanSeries(time.UnixMilli(first).UTC(), step, n), qerr(ErrNoData)
	case 1:
		// The call may have read further back than this query asked: its
		// part is the query's own grid, and a part without a value is what
		// Prometheus answers a window where the query matches nothing.
		from := int((first - mine[0].Series.Start.UnixMilli()) / stepMs)
		part := Series{Start: time.UnixMilli(first).UTC(), Step: step, Values: mine[0].Series.Values[from : from+n]}
		if part.Missing() == n {
			return part, qerr(ErrNoData)
		}
		return part, nil
	}
	return Series{}, qerr(multiple(len(mine), func(i int) model.Metric { return mine[i].Labels }))
}

// latestOf is query's part of a grouped Latest answer.
func (b *Batcher) latestOf(c *call, s shape, query string, at time.Time, step time.Duration) (Sample, error) {
	mine := c.samples[tupleKey(s.values)]
	qerr := func(err error) error {
		return &QueryError{URL: b.src.URL(), Query: query, Start: at, End: at, Step: step, Err: err}
	}
	switch len(mine) {
	case 0:
		return Sample{}, qerr(ErrNoData)
	case 1:
		return mine[0].Sample, nil
	}
	return Sample{}, qerr(multiple(len(mine), func(i int) model.Metric { return mine[i].Labels }))
}

func multiple(n int, labels func(int) model.Metric) error {
	e := &MultipleSeriesError{Count: n}
	for i := range min(n, maxListedSeries) {
		e.Series = append(e.Series, labels(i).String())
	}
	return e
}
