package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
)

// matrixStream writes a query_range answer of series series of points
// points each, piece by piece, as a real server streams a large answer,
// without holding it in memory. endless repeats the points of the first
// series for ever. It returns the bytes written before the client stopped
// reading (or the end).
func matrixStream(w io.Writer, series, points int, endless bool) int64 {
	var written int64
	write := func(s string) bool {
		n, err := io.WriteString(w, s)
		written += int64(n)
		return err == nil
	}
	if !write(`{"status":"success","data":{"resultType":"matrix","result":[`) {
		return written
	}
	for s := 0; s < series; s++ {
		if s > 0 && !write(",") {
			return written
		}
		if !write(fmt.Sprintf(`{"metric":{"__name__":"requests_total","pod":"pod-%d"},"values":[`, s)) {
			return written
		}
		var b strings.Builder
		for p := 0; p < points || endless; p++ {
			if p > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%d.000,"%d.25"]`, 1741000000+60*p, 1000+p%97)
			if b.Len() > 32<<10 {
				if !write(b.String()) {
					return written
				}
				b.Reset()
			}
		}
		if !write(b.String() + "]}") {
			return written
		}
	}
	write(`]}}`)
	return written
}

// streamingServer answers every query_range with matrixStream and records
// how much it wrote.
func streamingServer(t *testing.T, series, points int, endless bool) (*httptest.Server, *atomic.Int64) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		written.Store(matrixStream(w, series, points, endless))
	}))
	t.Cleanup(srv.Close)
	return srv, &written
}

// A demand query that forgot its sum() over 600 pods, at 11,000 points a
// series (~230 MB of JSON), is refused as the sixth series begins: the
// error names the first five and the read stops after about 2 MB (the
// server gets further only by its socket buffers).
func TestManySeriesRefusedWhileStreaming(t *testing.T) {
	srv, written := streamingServer(t, 600, MaxPointsPerRequest, false)
	start := mustTime(t, "2025-03-03T00:00:00Z")
	_, err := sourceFor(t, srv.URL).Range(context.Background(), "rate(requests_total[1m])", start, start.Add(time.Hour), time.Minute)
	var mse *MultipleSeriesError
	if !errors.As(err, &mse) || !mse.AtLeast || mse.Count != maxListedSeries+1 || len(mse.Series) != maxListedSeries {
		t.Fatalf("err = %v, want a *MultipleSeriesError refusing the answer at series %d", err, maxListedSeries+1)
	}
	for _, want := range []string{"returned at least 6 series, want 1", `pod="pod-0"`, `pod="pod-4"`, "and more", `"rate(requests_total[1m])"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	srv.Close() // waits for the handler
	if w := written.Load(); w > 32<<20 {
		t.Errorf("server wrote %d MB of the ~230 MB answer before the client stopped reading", w>>20)
	}
}

// An answer larger than MaxResponseBytes is cut there with an error that
// says so, instead of being read whole (a 400 MB body used to take the
// resident set to 2.9 GB).
func TestResponseBodyIsCapped(t *testing.T) {
	srv, written := streamingServer(t, 1, 0, true)
	start := mustTime(t, "2025-03-03T00:00:00Z")
	// Decoding 16 MiB of JSON takes seconds under the race detector on a
	// loaded machine: the query timeout must not end the read before the cap.
	cfg := promConfig(srv.URL)
	cfg.Timeout = config.Duration(2 * time.Minute)
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Range(context.Background(), "sum(rate(requests_total[1m]))", start, start.Add(time.Hour), time.Minute)
	var tooLarge *ResponseTooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "exceeds 16 MiB") {
		t.Fatalf("err = %v, want a *ResponseTooLargeError", err)
	}
	srv.Close()
	if w := written.Load(); w > MaxResponseBytes+16<<20 {
		t.Errorf("server wrote %d MB, the cap is %d MB", w>>20, MaxResponseBytes>>20)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// The guarded body itself reads exactly up to the cap, and no further than
// the sixth series of a many-series answer.
func TestGuardedBodyStopsReading(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { matrixStream(pw, 600, MaxPointsPerRequest, false); _ = pw.Close() }()
	src := &countingReader{r: pr}
	body := &guardedBody{body: io.NopCloser(src), limit: MaxResponseBytes, series: &seriesScanner{}}
	_, err := io.ReadAll(body)
	_ = pr.CloseWithError(errors.New("done")) // ends the writer
	var mse *MultipleSeriesError
	if !errors.As(err, &mse) {
		t.Fatalf("err = %v, want a *MultipleSeriesError", err)
	}
	// Five series of 11,000 points are ~1.5 MB.
	if src.n > 3<<20 {
		t.Errorf("read %d bytes of the answer, want no more than its first six series", src.n)
	}

	endless, w := io.Pipe()
	go func() { matrixStream(w, 1, 0, true); _ = w.Close() }()
	capped := &countingReader{r: endless}
	body = &guardedBody{body: io.NopCloser(capped), limit: 1 << 20, series: &seriesScanner{}}
	_, err = io.ReadAll(body)
	_ = endless.CloseWithError(errors.New("done"))
	var tooLarge *ResponseTooLargeError
	if !errors.As(err, &tooLarge) || capped.n > 1<<20+64<<10 {
		t.Errorf("read %d bytes with a 1 MiB cap, err %v", capped.n, err)
	}
}

// The scanner counts the elements of data.result and nothing else: braces,
// quotes and keys inside strings, other keys named "result", whitespace and
// the order of an element's keys do not fool it.
func TestSeriesScanner(t *testing.T) {
	series := func(n int, format string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i)
		}
		return strings.Join(parts, ",")
	}
	answer := func(result string) string {
		return `{"status":"success","data":{"resultType":"matrix","result":[` + result + `]},"warnings":["result [ { many"]}`
	}
	tests := []struct {
		name    string
		body    string
		refused bool
		labels  []string
	}{
		{"one series", answer(`{"metric":{},"values":[[1,"1"]]}`), false, nil},
		{"five series: left to the decoder", answer(series(5, `{"metric":{"pod":"p%d"},"values":[[1,"1"]]}`)), false, nil},
		{"seven series", answer(series(7, `{"metric":{"pod":"p%d"},"values":[[1,"1"]]}`)), true,
			[]string{`{pod="p0"}`, `{pod="p4"}`}},
		{"values before metric", answer(series(7, `{"values":[[1,"1"]],"metric":{"pod":"p%d"}}`)), true,
			[]string{`{pod="p0"}`, `{pod="p4"}`}},
		{"pretty-printed", strings.ReplaceAll(answer(series(6, `{ "metric" : { "pod" : "p%d" } , "values" : [ [ 1 , "1" ] ] }`)), ",", " ,\n\t"), true,
			[]string{`{pod="p3"}`}},
		{"structure inside label values", answer(series(5, `{"metric":{"path":"/a},{\"metric\":{\"x\":[{\\","n":"%d"},"values":[[1,"1"]]}`)), false, nil},
		{"a label named metric", answer(series(3, `{"metric":{"metric":"m%d"},"values":[[1,"1"]]}`)), false, nil},
		{"result elsewhere", `{"status":"success","other":{"result":[` + series(9, `{"metric":{"i":"%d"}}`) + `]},"data":{"result":[]}}`, false, nil},
		{"an error answer", `{"status":"error","errorType":"bad_data","error":"parse error: {[ unexpected"}`, false, nil},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 7, len(tt.body)} {
			t.Run(fmt.Sprintf("%s/chunks of %d", tt.name, chunk), func(t *testing.T) {
				s := &seriesScanner{}
				var err error
				for i := 0; i < len(tt.body) && err == nil; i += chunk {
					err = s.scan([]byte(tt.body[i:min(i+chunk, len(tt.body))]))
				}
				var mse *MultipleSeriesError
				if refused := errors.As(err, &mse); refused != tt.refused {
					t.Fatalf("err = %v, refused %v, want %v", err, refused, tt.refused)
				}
				for _, want := range tt.labels {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %s", err, want)
					}
				}
			})
		}
	}
}
