package prometheus

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// LabeledSeries is one series of a grouped range query's answer.
type LabeledSeries struct {
	Labels model.Metric
	Series Series
}

// LabeledSample is one series' latest value in a grouped query's answer.
type LabeledSample struct {
	Labels model.Metric
	Sample Sample
}

// RangeGroup is Range for a query that answers several series (at most
// maxSeries; more is a *MultipleSeriesError), each placed on the step grid
// of [start, end]. The window must fit in one request: a group query reads
// a few steps of many targets, not a long history.
func (s *Source) RangeGroup(ctx context.Context, query string, start, end time.Time, step time.Duration, maxSeries int) ([]LabeledSeries, error) {
	stepMs, err := gridStep(step)
	if err != nil {
		return nil, s.queryError(query, start, end, step, err)
	}
	first, last := gridCeil(start, stepMs), gridFloor(end, stepMs)
	if last < first {
		return nil, nil
	}
	n := (last-first)/stepMs + 1
	if n > int64(s.opts.MaxPointsPerRequest) {
		return nil, s.queryError(query, time.UnixMilli(first), time.UnixMilli(last), step,
			fmt.Errorf("a group query reads at most %d steps, not %d", s.opts.MaxPointsPerRequest, n))
	}
	matrix, err := s.queryMatrix(withSeriesLimit(ctx, maxSeries), query, first, last, step)
	if err != nil {
		return nil, err
	}
	out := make([]LabeledSeries, 0, len(matrix))
	for _, ss := range matrix {
		series := nanSeries(time.UnixMilli(first).UTC(), step, int(n))
		if err := place(series.Values, ss.Values, first, stepMs); err != nil {
			return nil, s.queryError(query, time.UnixMilli(first), time.UnixMilli(last), step, err)
		}
		out = append(out, LabeledSeries{Labels: ss.Metric, Series: series})
	}
	return out, nil
}

// LatestGroup is Latest for a query that answers several series (at most
// maxSeries): each series' most recent finite value over the same window
// Latest reads. Series without one are left out.
func (s *Source) LatestGroup(ctx context.Context, query string, at time.Time, step time.Duration, maxSeries int) ([]LabeledSample, error) {
	stepMs, err := gridStep(step)
	if err != nil {
		return nil, s.queryError(query, at, at, step, err)
	}
	to := at.UnixMilli()
	from := to - int64(s.opts.LatestSteps-1)*stepMs
	matrix, err := s.queryMatrix(withSeriesLimit(ctx, maxSeries), query, from, to, step)
	if err != nil {
		return nil, err
	}
	out := make([]LabeledSample, 0, len(matrix))
	for _, ss := range matrix {
		if sample, ok := latestFinite(ss.Values); ok {
			out = append(out, LabeledSample{Labels: ss.Metric, Sample: sample})
		}
	}
	return out, nil
}

// latestFinite is the newest finite value of values.
func latestFinite(values []model.SamplePair) (Sample, bool) {
	for i := len(values) - 1; i >= 0; i-- {
		p := values[i]
		if v := float64(p.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
			return Sample{Time: p.Timestamp.Time().UTC(), Value: v}, true
		}
	}
	return Sample{}, false
}
