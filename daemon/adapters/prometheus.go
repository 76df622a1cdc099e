package adapters

import (
	"context"
	"sync/atomic"
	"time"

	promsrc "github.com/prescaler/prescaler/collector/prometheus"
)

// PromQL is how the adapters query Prometheus: a *promsrc.Source, a
// Prometheus whose server a config reload replaces, or a *promsrc.Batcher
// reading the queries of many targets together.
type PromQL interface {
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (promsrc.Series, error)
	Latest(ctx context.Context, query string, at time.Time, step time.Duration) (promsrc.Sample, error)
}

// Prometheus is a PromQL whose source a config reload can replace: each
// query goes to the source in force when it starts, so a query under way
// finishes against the old server and the next one reads the new.
type Prometheus struct {
	current atomic.Pointer[promsrc.Source]
}

// NewPrometheus returns a Prometheus querying src until the first Swap.
func NewPrometheus(src *promsrc.Source) *Prometheus {
	p := &Prometheus{}
	p.current.Store(src)
	return p
}

// Swap makes later queries go to src.
func (p *Prometheus) Swap(src *promsrc.Source) { p.current.Store(src) }

// URL is the (redacted) address of the source in force.
func (p *Prometheus) URL() string { return p.current.Load().URL() }

// Range implements PromQL.
func (p *Prometheus) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (promsrc.Series, error) {
	return p.current.Load().Range(ctx, query, start, end, step)
}

// RangeGroup implements promsrc.GroupQuerier.
func (p *Prometheus) RangeGroup(ctx context.Context, query string, start, end time.Time, step time.Duration, maxSeries int) ([]promsrc.LabeledSeries, error) {
	return p.current.Load().RangeGroup(ctx, query, start, end, step, maxSeries)
}

// LatestGroup implements promsrc.GroupQuerier.
func (p *Prometheus) LatestGroup(ctx context.Context, query string, at time.Time, step time.Duration, maxSeries int) ([]promsrc.LabeledSample, error) {
	return p.current.Load().LatestGroup(ctx, query, at, step, maxSeries)
}

// Latest implements PromQL.
func (p *Prometheus) Latest(ctx context.Context, query string, at time.Time, step time.Duration) (promsrc.Sample, error) {
	return p.current.Load().Latest(ctx, query, at, step)
}
