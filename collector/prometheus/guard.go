package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/common/model"
)

// MaxResponseBytes caps the body of one Prometheus response. The largest
// answer prescaler needs is one series of MaxPointsPerRequest points, about
// 35 bytes each in Prometheus' JSON ([1741000000.123,"1234.5678"]): under
// 0.5 MB. 16 MiB leaves room thirty times over for long numbers, warnings
// and what a proxy adds, and stops a runaway answer (a query that selects
// thousands of series, a URL that streams something else) before it costs
// the daemon its memory: client_golang holds the whole body before decoding
// it, and the decoded matrix takes several times as much again.
const MaxResponseBytes = 16 << 20

// ResponseTooLargeError is a response body cut at the cap.
type ResponseTooLargeError struct {
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("response body exceeds %d MiB, more than one aggregated series can take; "+
		"check that the query aggregates to one series (e.g. sum(...)) and that the URL is the Prometheus API", e.Limit>>20)
}

// guardRoundTripper caps every response body at limit bytes and watches
// range query answers as they stream in, so that one that holds more series
// than a MultipleSeriesError lists is refused before the rest is read.
type guardRoundTripper struct {
	next  http.RoundTripper
	limit int64
}

func (rt *guardRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body := &guardedBody{body: resp.Body, limit: rt.limit}
	if resp.StatusCode/100 == 2 && strings.HasSuffix(req.URL.Path, "/query_range") {
		body.series = &seriesScanner{limit: seriesLimit(req.Context())}
	}
	resp.Body = body
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (rt *guardRoundTripper) CloseIdleConnections() {
	if c, ok := rt.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// guardedBody is a response body that fails once it passed its limit, or
// once its scanner saw too many series. The error reaches the caller of
// the API unchanged (client_golang returns body read errors as they are).
type guardedBody struct {
	body   io.ReadCloser
	limit  int64
	read   int64
	series *seriesScanner // nil: not a range query answer
	err    error
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		b.err = &ResponseTooLargeError{Limit: b.limit}
		return n, b.err
	}
	if b.series != nil {
		if serr := b.series.scan(p[:n]); serr != nil {
			b.err = serr
			return n, serr
		}
	}
	return n, err
}

func (b *guardedBody) Close() error { return b.body.Close() }

// seriesScanner follows the JSON of a query_range answer byte by byte,
// {"status":…,"data":{"resultType":"matrix","result":[{"metric":{…},"values":[…]},…]}},
// and fails when the element data.result[maxListedSeries] begins, with the
// label sets of the elements before it. It tracks only the nesting, the
// strings and the keys on the path to data.result: O(1) memory besides the
// label sets it keeps.
type seriesScanner struct {
	// limit is how many series the answer may hold: maxListedSeries,
	// unless a grouped query allows more (withSeriesLimit).
	limit      int
	stack      []scanLevel
	inString   bool
	escaped    bool
	readingKey bool
	key        []byte
	series     int
	// capture holds the raw "metric" object of the current element while
	// capturing; labels the label sets read so far.
	capturing bool
	capture   []byte
	labels    []string
	off       bool // nested too deep to be a Prometheus answer: stop watching
}

// scanLevel is one open object or array.
type scanLevel struct {
	open    byte   // '{' or '['
	key     string // the last key read, in an object
	wantKey bool   // the next string is a key
}

const (
	// maxScanDepth is far deeper than a range query answer (five levels).
	maxScanDepth = 32
	// maxScanKey is longer than any key on the watched path.
	maxScanKey = 16
	// maxLabelBytes bounds one captured label set.
	maxLabelBytes = 4096
)

func (s *seriesScanner) scan(p []byte) error {
	for _, c := range p {
		if s.off {
			return nil
		}
		if s.capturing && len(s.capture) < maxLabelBytes {
			s.capture = append(s.capture, c)
		}
		if s.inString {
			s.stringByte(c)
			continue
		}
		if err := s.structural(c); err != nil {
			return err
		}
	}
	return nil
}

// stringByte consumes one byte inside a string.
func (s *seriesScanner) stringByte(c byte) {
	switch {
	case s.escaped:
		s.escaped = false
	case c == '\\':
		s.escaped = true
	case c == '"':
		s.inString = false
		if s.readingKey {
			s.readingKey = false
			s.top().key = string(s.key)
		}
		return
	}
	if s.readingKey && len(s.key) < maxScanKey {
		s.key = append(s.key, c)
	}
}

// structural consumes one byte outside strings.
func (s *seriesScanner) structural(c byte) error {
	switch c {
	case '"':
		s.inString = true
		if t := s.top(); t != nil && t.open == '{' && t.wantKey {
			t.wantKey, s.readingKey, s.key = false, true, s.key[:0]
		}
	case ',':
		if t := s.top(); t != nil && t.open == '{' {
			t.wantKey = true
		}
	case '{', '[':
		return s.open(c)
	case '}', ']':
		s.close()
	}
	return nil
}

func (s *seriesScanner) open(c byte) error {
	switch {
	case len(s.stack) >= maxScanDepth:
		s.off = true
		return nil
	case len(s.stack) == 3 && c == '{' && s.inResult():
		s.series++
		if s.series > max(s.limit, maxListedSeries) {
			return &MultipleSeriesError{Series: s.labels, Count: s.series, AtLeast: true}
		}
	case len(s.stack) == 4 && c == '{' && s.inResult() && s.stack[3].key == "metric" && len(s.labels) < maxListedSeries:
		s.capturing, s.capture = true, append(s.capture[:0], c)
	}
	s.stack = append(s.stack, scanLevel{open: c, wantKey: c == '{'})
	return nil
}

func (s *seriesScanner) close() {
	if len(s.stack) == 0 {
		return
	}
	if s.capturing && len(s.stack) == 5 {
		s.capturing = false
		s.labels = append(s.labels, labelSet(s.capture))
	}
	s.stack = s.stack[:len(s.stack)-1]
}

func (s *seriesScanner) top() *scanLevel {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// inResult reports whether the third open level is the data.result array.
func (s *seriesScanner) inResult() bool {
	return len(s.stack) >= 3 && s.stack[0].open == '{' && s.stack[0].key == "data" &&
		s.stack[1].open == '{' && s.stack[1].key == "result" && s.stack[2].open == '['
}

// seriesLimitKey carries, in a request's context, how many series its
// answer may hold.
type seriesLimitKey struct{}

// withSeriesLimit lets the range queries made with ctx answer up to n
// series (a grouped query, see Batcher) instead of maxListedSeries.
func withSeriesLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, seriesLimitKey{}, n)
}

func seriesLimit(ctx context.Context) int {
	if n, ok := ctx.Value(seriesLimitKey{}).(int); ok && n > 0 {
		return n
	}
	return maxListedSeries
}

// labelSet prints a captured metric object as Prometheus writes label sets.
func labelSet(raw []byte) string {
	var m model.Metric
	if err := json.Unmarshal(raw, &m); err != nil {
		return "{…}"
	}
	return m.String()
}
