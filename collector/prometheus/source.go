package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// MaxPointsPerRequest is the most evaluation steps one range request asks
// for. Prometheus refuses a range query whose (end-start)/step exceeds 11,000
// ("exceeded maximum resolution of 11,000 points per timeseries"); 11,000
// points span 10,999 steps, one under the limit.
const MaxPointsPerRequest = 11000

// maxSeriesPoints bounds one Range call (about 80 MB of float64), so a step
// of a millisecond over a year is refused instead of exhausting memory.
const maxSeriesPoints = 10_000_000

// DefaultLatestSteps is how many steps Latest looks back for a value.
const DefaultLatestSteps = 5

// ErrNoData is wrapped by the error returned when a query matched no series
// anywhere in the window it was evaluated over. Range still returns the
// NaN-filled series with it.
var ErrNoData = errors.New("no data: the query matched no series")

// RangeQuerier is the part of the Prometheus HTTP API the Source uses;
// client_golang's v1.API implements it.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// SourceOptions configures a Source built on a RangeQuerier.
type SourceOptions struct {
	// URL names the server in error messages; it must carry no credentials.
	URL string
	// Timeout bounds each HTTP request (one chunk of a Range); it is also
	// sent to Prometheus as the query's evaluation timeout. 0 means none.
	Timeout time.Duration
	// MaxPointsPerRequest caps the steps of one range request; 0 means
	// MaxPointsPerRequest. A smaller cap suits a proxy with a lower limit.
	MaxPointsPerRequest int
	// LatestSteps is how many steps Latest looks back; 0 means DefaultLatestSteps.
	LatestSteps int
	// Logger receives the warnings Prometheus attaches to a result; nil
	// discards them.
	Logger *slog.Logger
}

// Source reads PromQL results from one Prometheus server and converts them to
// Series and Samples. It keeps no state between calls and is safe for
// concurrent use.
type Source struct {
	api    RangeQuerier
	opts   SourceOptions
	logger *slog.Logger
}

// NewSource returns a Source that reads through api.
func NewSource(api RangeQuerier, opts SourceOptions) *Source {
	if opts.MaxPointsPerRequest <= 0 {
		opts.MaxPointsPerRequest = MaxPointsPerRequest
	}
	if opts.LatestSteps <= 0 {
		opts.LatestSteps = DefaultLatestSteps
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{api: api, opts: opts, logger: logger}
}

// URL returns the server's URL, without credentials.
func (s *Source) URL() string { return s.opts.URL }

// QueryError is the error of one query: it names the server (without
// credentials), the PromQL and the window it was evaluated over.
type QueryError struct {
	URL   string
	Query string
	// Start and End are the first and last evaluation times; equal for a
	// single evaluation.
	Start, End time.Time
	Step       time.Duration
	Err        error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("prometheus %s: query %q from %s to %s step %s: %v",
		e.URL, e.Query, e.Start.UTC().Format(time.RFC3339), e.End.UTC().Format(time.RFC3339), e.Step, e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// MultipleSeriesError reports a query that returned more than one series; a
// prescaler query must aggregate to one (sum, avg, max…).
type MultipleSeriesError struct {
	// Series are the label sets of the series returned, at most the first few.
	Series []string
	// Count is the number of series returned; with AtLeast, the number
	// seen before the answer was refused unread.
	Count   int
	AtLeast bool
}

// maxListedSeries bounds the label sets a MultipleSeriesError lists.
const maxListedSeries = 5

func (e *MultipleSeriesError) Error() string {
	list := strings.Join(e.Series, ", ")
	count := fmt.Sprint(e.Count)
	switch {
	case e.AtLeast:
		count = "at least " + count
		list += " and more"
	case e.Count > len(e.Series):
		list += fmt.Sprintf(" and %d more", e.Count-len(e.Series))
	}
	return fmt.Sprintf("returned %s series, want 1 (aggregate it, e.g. sum(...)): %s", count, list)
}

// Range evaluates query at every point of the step grid in [start, end]: the
// multiples of step (counted from the Unix epoch) from the first at or after
// start to the last at or before end. Windows longer than one request may
// ask for are split into consecutive requests that share no step and skip
// none, and merged.
//
// The result has one value per grid point, NaN where the query had no value
// (or a NaN one). ±Inf values are kept, so that the caller can count them
// as the faults they are rather than as missing data. A query that returns more than one series, in any
// chunk or across chunks, is an error (*MultipleSeriesError) naming their
// label sets. A query that matches nothing in the whole window returns the
// NaN-filled series together with an error wrapping ErrNoData, so a caller
// that accepts an empty window can keep the series. An empty grid (end
// before the first point) returns an empty series and no error, and sends
// no request.
func (s *Source) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (Series, error) {
	stepMs, err := gridStep(step)
	if err != nil {
		return Series{}, s.queryError(query, start, end, step, err)
	}
	first, last := gridCeil(start, stepMs), gridFloor(end, stepMs)
	out := Series{Start: time.UnixMilli(first).UTC(), Step: step}
	if last < first {
		return out, nil
	}
	n := (last-first)/stepMs + 1
	if n > maxSeriesPoints {
		return Series{}, s.queryError(query, out.Start, time.UnixMilli(last), step,
			fmt.Errorf("%d steps exceed the limit of %d; use a longer step or a shorter window", n, maxSeriesPoints))
	}
	// The series is made when the first answer comes: a read cut before
	// it (a loop's deadline during a start-up backfill) costs nothing.
	var labels string // label set of the one series seen so far
	found := false
	chunk := int64(s.opts.MaxPointsPerRequest)
	for from := first; from <= last; from += chunk * stepMs {
		to := min(from+(chunk-1)*stepMs, last)
		ss, err := s.queryRange(ctx, query, from, to, step)
		if err != nil {
			return Series{}, err
		}
		if ss == nil {
			continue
		}
		if l := ss.Metric.String(); !found {
			labels, found = l, true
			out = nanSeries(out.Start, step, int(n))
		} else if l != labels {
			return Series{}, s.queryError(query, out.Start, time.UnixMilli(last), step,
				&MultipleSeriesError{Series: []string{labels, l}, Count: 2})
		}
		if err := place(out.Values, ss.Values, first, stepMs); err != nil {
			return Series{}, s.queryError(query, time.UnixMilli(from), time.UnixMilli(to), step, err)
		}
	}
	if !found {
		return nanSeries(out.Start, step, int(n)), s.queryError(query, out.Start, time.UnixMilli(last), step, ErrNoData)
	}
	return out, nil
}

// Latest evaluates query at at and at the LatestSteps-1 instants one step
// apart before it, and returns the most recent finite value with the instant
// it was evaluated at. A value older than at means the query had no value
// since (a series that stopped being scraped, a rate over an idle window):
// the caller decides how stale is too stale. When no instant has a value the
// error wraps ErrNoData.
//
// The window is anchored at at, not at the step grid: the newest point is
// at itself.
func (s *Source) Latest(ctx context.Context, query string, at time.Time, step time.Duration) (Sample, error) {
	stepMs, err := gridStep(step)
	if err != nil {
		return Sample{}, s.queryError(query, at, at, step, err)
	}
	to := at.UnixMilli()
	from := to - int64(s.opts.LatestSteps-1)*stepMs
	ss, err := s.queryRange(ctx, query, from, to, step)
	if err != nil {
		return Sample{}, err
	}
	if ss != nil {
		if sample, ok := latestFinite(ss.Values); ok {
			return sample, nil
		}
	}
	return Sample{}, s.queryError(query, time.UnixMilli(from), time.UnixMilli(to), step, ErrNoData)
}

// queryRange sends one range request for the evaluation times from..to (Unix
// milliseconds, both included) and returns its only series, or nil when it
// returned none.
func (s *Source) queryRange(ctx context.Context, query string, from, to int64, step time.Duration) (*model.SampleStream, error) {
	matrix, err := s.queryMatrix(ctx, query, from, to, step)
	if err != nil {
		return nil, err
	}
	start, end := time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC()
	switch len(matrix) {
	case 0:
		return nil, nil
	case 1:
	default:
		e := &MultipleSeriesError{Count: len(matrix)}
		for _, ss := range matrix[:min(len(matrix), maxListedSeries)] {
			e.Series = append(e.Series, ss.Metric.String())
		}
		return nil, s.queryError(query, start, end, step, e)
	}
	return matrix[0], nil
}

// queryMatrix sends one range request for the evaluation times from..to
// (Unix milliseconds, both included) and returns its float series.
func (s *Source) queryMatrix(ctx context.Context, query string, from, to int64, step time.Duration) (model.Matrix, error) {
	start, end := time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC()
	var opts []v1.Option
	if s.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
		opts = append(opts, v1.WithTimeout(s.opts.Timeout))
	}
	value, warnings, _, err := s.api.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step}, opts...)
	if len(warnings) > 0 {
		s.logger.Warn("prometheus returned warnings", "url", s.opts.URL, "query", query, "warnings", []string(warnings))
	}
	if err != nil {
		return nil, s.queryError(query, start, end, step, describe(err))
	}
	matrix, ok := value.(model.Matrix)
	if !ok {
		return nil, s.queryError(query, start, end, step, fmt.Errorf("range query returned a %s, want a matrix", valueType(value)))
	}
	for _, ss := range matrix {
		if len(ss.Histograms) > 0 {
			return nil, s.queryError(query, start, end, step,
				fmt.Errorf("series %s holds native histograms, want floats (use histogram_quantile, histogram_sum…)", ss.Metric))
		}
	}
	return matrix, nil
}

// place writes samples into values, whose first element is evaluated at
// first (Unix milliseconds).
func place(values []float64, samples []model.SamplePair, first, stepMs int64) error {
	for _, p := range samples {
		off := int64(p.Timestamp) - first
		k := off / stepMs
		if off < 0 || off%stepMs != 0 || k >= int64(len(values)) {
			return fmt.Errorf("sample at %s is off the step grid or outside the window", p.Timestamp.Time().UTC().Format(time.RFC3339Nano))
		}
		values[k] = float64(p.Value)
	}
	return nil
}

func (s *Source) queryError(query string, start, end time.Time, step time.Duration, err error) error {
	return &QueryError{URL: s.opts.URL, Query: query, Start: start, End: end, Step: step, Err: err}
}

// describe adds the response body client_golang keeps in Error.Detail for
// HTTP errors that are not Prometheus API errors (a proxy's 401 page, a 502),
// shortened, since Error() leaves it out.
//
// It also takes the user information out of the URL net/http puts in its
// errors (it masks the password but shows the user name).
func describe(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.User != nil {
			urlErr.URL = redact(u)
		}
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && apiErr.Detail != "" {
		detail := strings.Join(strings.Fields(apiErr.Detail), " ")
		const maxDetail = 200
		if r := []rune(detail); len(r) > maxDetail {
			detail = string(r[:maxDetail]) + "…"
		}
		return fmt.Errorf("%w (response: %s)", err, detail)
	}
	return err
}

func valueType(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
