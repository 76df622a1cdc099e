package prometheus

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
)

func promConfig(url string) config.Prometheus {
	return config.Prometheus{URL: url, Timeout: config.Duration(5 * time.Second)}
}

// TestRangeChunkBoundaries checks that a window is split into requests
// Prometheus accepts, that consecutive requests share no step and skip none,
// and that the merged series has every step's value in place.
func TestRangeChunkBoundaries(t *testing.T) {
	start := mustTime(t, "2025-03-03T00:00:00Z")
	for _, tc := range []struct {
		name  string
		steps int // grid points in the window
		step  time.Duration
		max   int // MaxPointsPerRequest; 0 = default
		want  int // requests
	}{
		{"one step", 1, time.Minute, 0, 1},
		{"one under the limit", MaxPointsPerRequest - 1, time.Minute, 0, 1},
		{"exactly the limit", MaxPointsPerRequest, time.Minute, 0, 1},
		{"one over the limit", MaxPointsPerRequest + 1, time.Minute, 0, 2},
		{"two full chunks", 2 * MaxPointsPerRequest, time.Minute, 0, 2},
		{"14 days of minutes", 14 * 1440, time.Minute, 0, 2},
		{"14 days of 15s", 14 * 5760, 15 * time.Second, 0, 8},
		{"small chunks, remainder 1", 15, time.Minute, 7, 3},
		{"small chunks, exact", 21, 5 * time.Minute, 7, 3},
		{"sub-second step", 100, 250 * time.Millisecond, 30, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := newFakeProm(t, one(func(t time.Time) (float64, bool) { return float64(t.UnixMilli()), true }))
			src := NewSource(sourceFor(t, srv.URL).api, SourceOptions{URL: srv.URL, MaxPointsPerRequest: tc.max})
			end := start.Add(time.Duration(tc.steps-1) * tc.step)
			s, err := src.Range(context.Background(), "demand", start, end, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != tc.steps || !s.Start.Equal(start) || s.Step != tc.step || s.Missing() != 0 {
				t.Fatalf("got %s, want %d steps from %s with none missing", s, tc.steps, start)
			}
			for k, v := range s.Values {
				if want := float64(s.At(k).UnixMilli()); v != want {
					t.Fatalf("step %d = %v, want %v (the value evaluated at %s)", k, v, want, s.At(k))
				}
			}
			reqs := fake.received()
			if len(reqs) != tc.want {
				t.Fatalf("%d requests, want %d:%s", len(reqs), tc.want, describeRequests(reqs))
			}
			limit := tc.max
			if limit == 0 {
				limit = MaxPointsPerRequest
			}
			next := start
			for i, r := range reqs {
				if !r.start.Equal(next) {
					t.Errorf("request %d starts at %s, want %s (right after the previous one):%s", i, r.start, next, describeRequests(reqs))
				}
				if points := int(r.end.Sub(r.start)/r.step) + 1; points > limit {
					t.Errorf("request %d asks for %d points, more than %d", i, points, limit)
				}
				next = r.end.Add(tc.step)
			}
			if last := reqs[len(reqs)-1].end; !last.Equal(end) {
				t.Errorf("last request ends at %s, want %s", last, end)
			}
		})
	}
}

// TestRangeGrid checks that a window is read on the epoch-anchored step
// grid: the first point at or after start, the last at or before end.
func TestRangeGrid(t *testing.T) {
	_, srv := newFakeProm(t, one(minuteValue))
	src := sourceFor(t, srv.URL)
	for _, tc := range []struct {
		name, start, end string
		step             time.Duration
		first            string
		n                int
	}{
		{"on grid", "2025-03-03T10:00:00Z", "2025-03-03T10:04:00Z", time.Minute, "2025-03-03T10:00:00Z", 5},
		{"off grid", "2025-03-03T10:00:30Z", "2025-03-03T10:04:59.999Z", time.Minute, "2025-03-03T10:01:00Z", 4},
		{"sub-millisecond start", "2025-03-03T10:00:00.000000001Z", "2025-03-03T10:02:00Z", time.Minute, "2025-03-03T10:01:00Z", 2},
		{"5m grid", "2025-03-03T10:01:00Z", "2025-03-03T10:20:00Z", 5 * time.Minute, "2025-03-03T10:05:00Z", 4},
		{"7m grid from the epoch", "2025-03-03T10:00:00Z", "2025-03-03T10:30:00Z", 7 * time.Minute, "2025-03-03T10:03:00Z", 4},
		{"no grid point", "2025-03-03T10:00:01Z", "2025-03-03T10:00:59Z", time.Minute, "2025-03-03T10:01:00Z", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := src.Range(context.Background(), "q", mustTime(t, tc.start), mustTime(t, tc.end), tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if first := mustTime(t, tc.first); !s.Start.Equal(first) || s.Len() != tc.n {
				t.Fatalf("got %s, want %d steps from %s", s, tc.n, first)
			}
			for k, v := range s.Values {
				if want, _ := minuteValue(s.At(k)); v != want {
					t.Errorf("step %d = %v, want %v", k, v, want)
				}
			}
		})
	}
}

func TestRangeNoGridNoRequest(t *testing.T) {
	fake, srv := newFakeProm(t, one(minuteValue))
	at := mustTime(t, "2025-03-03T10:00:10Z")
	s, err := sourceFor(t, srv.URL).Range(context.Background(), "q", at, at.Add(20*time.Second), time.Minute)
	if err != nil || s.Len() != 0 {
		t.Fatalf("got %s, %v; want an empty series and no error", s, err)
	}
	if n := len(fake.received()); n != 0 {
		t.Errorf("%d requests for an empty grid, want none", n)
	}
}

// TestRangeMissingSteps checks that steps without a value, and NaN values,
// become NaN in place, across a chunk boundary, and that infinite values
// are kept for the caller to refuse and count.
func TestRangeMissingSteps(t *testing.T) {
	start := mustTime(t, "2025-03-03T00:00:00Z")
	_, srv := newFakeProm(t, one(func(t time.Time) (float64, bool) {
		k := int(t.Sub(start) / time.Minute)
		switch {
		case k%10 == 3:
			return 0, false
		case k == 5:
			return math.Inf(1), true
		case k == 6:
			return math.NaN(), true
		}
		return float64(k), true
	}))
	src := NewSource(sourceFor(t, srv.URL).api, SourceOptions{URL: srv.URL, MaxPointsPerRequest: 4})
	s, err := src.Range(context.Background(), "q", start, start.Add(29*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.Values {
		missing := k%10 == 3 || k == 6
		want := float64(k)
		if k == 5 {
			want = math.Inf(1)
		}
		if missing != math.IsNaN(v) || !missing && v != want {
			t.Errorf("step %d = %v, want %v", k, v, map[bool]any{true: "NaN", false: want}[missing])
		}
	}
	if s.Missing() != 4 {
		t.Errorf("Missing = %d, want 4", s.Missing())
	}
}

// TestRangeEmptyResult checks that a query matching nothing returns the
// NaN-filled window with an error wrapping ErrNoData that names the query.
func TestRangeEmptyResult(t *testing.T) {
	_, srv := newFakeProm(t, nil)
	start := mustTime(t, "2025-03-03T00:00:00Z")
	src := NewSource(sourceFor(t, srv.URL).api, SourceOptions{URL: srv.URL, MaxPointsPerRequest: 4})
	s, err := src.Range(context.Background(), `sum(rate(typo_total[1m]))`, start, start.Add(9*time.Minute), time.Minute)
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
	if s.Len() != 10 || s.Missing() != 10 || !s.Start.Equal(start) {
		t.Errorf("got %s, want 10 NaN steps from %s", s, start)
	}
	for _, want := range []string{srv.URL, `"sum(rate(typo_total[1m]))"`, "2025-03-03T00:00:00Z", "2025-03-03T00:09:00Z", "no data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestRangeMultipleSeries checks that several series, in one request or in
// different chunks, are an error naming the query and the label sets.
func TestRangeMultipleSeries(t *testing.T) {
	start := mustTime(t, "2025-03-03T00:00:00Z")
	pod := func(name string, from, to int) fakeSeries {
		return fakeSeries{labels: map[string]string{"pod": name}, value: func(t time.Time) (float64, bool) {
			k := int(t.Sub(start) / time.Minute)
			return 1, k >= from && k < to
		}}
	}
	for _, tc := range []struct {
		name   string
		series []fakeSeries
		want   []string
	}{
		{"in one request", []fakeSeries{pod("a", 0, 10), pod("b", 0, 10), pod("c", 0, 10)},
			[]string{"returned 3 series, want 1", `{pod="a"}`, `{pod="b"}`, `{pod="c"}`}},
		{"across chunks", []fakeSeries{pod("a", 0, 4), pod("b", 4, 10)},
			[]string{"returned 2 series, want 1", `{pod="a"}`, `{pod="b"}`}},
		{"many", []fakeSeries{pod("a", 0, 10), pod("b", 0, 10), pod("c", 0, 10), pod("d", 0, 10), pod("e", 0, 10), pod("f", 0, 10), pod("g", 0, 10)},
			// Refused as the sixth series begins, unread.
			[]string{"returned at least 6 series", `{pod="a"}`, `{pod="e"}`, "and more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFakeProm(t, func(string) []fakeSeries { return tc.series })
			src := NewSource(sourceFor(t, srv.URL).api, SourceOptions{URL: srv.URL, MaxPointsPerRequest: 4})
			_, err := src.Range(context.Background(), "rate(requests_total[1m])", start, start.Add(9*time.Minute), time.Minute)
			var mse *MultipleSeriesError
			if !errors.As(err, &mse) {
				t.Fatalf("err = %v, want a *MultipleSeriesError", err)
			}
			for _, want := range append(tc.want, `"rate(requests_total[1m])"`, srv.URL) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}

// TestQueryErrors checks that every failure names the server, without
// credentials, and the query.
func TestQueryErrors(t *testing.T) {
	at := mustTime(t, "2025-03-03T00:00:00Z")
	t.Run("prometheus error", func(t *testing.T) {
		fake, srv := newFakeProm(t, nil)
		fake.fail = func(rangeRequest) (int, string) {
			return http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected right parenthesis ')'"}`
		}
		_, err := sourceFor(t, srv.URL).Range(context.Background(), "sum(x))", at, at.Add(time.Hour), time.Minute)
		wantAll(t, err, srv.URL, `"sum(x))"`, "bad_data", "unexpected right parenthesis")
	})
	t.Run("proxy error page", func(t *testing.T) {
		fake, srv := newFakeProm(t, nil)
		fake.fail = func(rangeRequest) (int, string) {
			return http.StatusBadGateway, "<html>\n<h1>502 Bad Gateway</h1></html>"
		}
		_, err := sourceFor(t, srv.URL).Range(context.Background(), "up", at, at.Add(time.Hour), time.Minute)
		wantAll(t, err, srv.URL, `"up"`, "502", "Bad Gateway")
	})
	t.Run("server down, credentials in the URL", func(t *testing.T) {
		_, srv := newFakeProm(t, nil)
		srv.Close()
		withUser := strings.Replace(srv.URL, "http://", "http://admin:s3cr3t@", 1)
		_, err := sourceFor(t, withUser).Range(context.Background(), "up", at, at.Add(time.Hour), time.Minute)
		wantAll(t, err, srv.URL, `"up"`, "connection refused")
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "admin") {
			t.Errorf("error %q shows the credentials of the URL", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		fake, srv := newFakeProm(t, one(minuteValue))
		fake.delay = 2 * time.Second
		cfg := promConfig(srv.URL)
		cfg.Timeout = config.Duration(100 * time.Millisecond)
		src, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		_, err = src.Latest(context.Background(), "up", at, time.Minute)
		wantAll(t, err, srv.URL, `"up"`, "deadline exceeded")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("query took %s with a 100ms timeout", d)
		}
		if got := fake.received()[0].timeout; got != "100ms" {
			t.Errorf("timeout sent to Prometheus = %q, want 100ms", got)
		}
	})
	t.Run("bad step", func(t *testing.T) {
		_, srv := newFakeProm(t, nil)
		_, err := sourceFor(t, srv.URL).Range(context.Background(), "up", at, at.Add(time.Hour), 0)
		wantAll(t, err, srv.URL, `"up"`, "step 0s must be a positive")
	})
}

func wantAll(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", parts)
	}
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Errorf("err = %v, want a *QueryError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// TestLatest checks the newest finite value and its evaluation time, stale
// values, and an empty window.
func TestLatest(t *testing.T) {
	at := mustTime(t, "2025-03-03T10:00:20Z")
	for _, tc := range []struct {
		name     string
		lastSeen time.Duration // before at; the series has no value after
		nanAfter bool          // a NaN (0/0) after lastSeen instead of nothing
		want     string        // RFC3339 evaluation time; "" = no data
	}{
		{"fresh", 0, false, "2025-03-03T10:00:20Z"},
		{"two steps stale", 2 * time.Minute, false, "2025-03-03T09:58:20Z"},
		{"NaN is no value", 3 * time.Minute, true, "2025-03-03T09:57:20Z"},
		{"older than the window", 5 * time.Minute, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFakeProm(t, one(func(t time.Time) (float64, bool) {
				if t.After(at.Add(-tc.lastSeen)) {
					return math.NaN(), tc.nanAfter
				}
				return float64(t.Unix()), true
			}))
			s, err := sourceFor(t, srv.URL).Latest(context.Background(), "queue_depth", at, time.Minute)
			if tc.want == "" {
				if !errors.Is(err, ErrNoData) {
					t.Fatalf("got %v, %v; want ErrNoData", s, err)
				}
				wantAll(t, err, srv.URL, `"queue_depth"`, "2025-03-03T09:56:20Z", "2025-03-03T10:00:20Z")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustTime(t, tc.want); !s.Time.Equal(want) || s.Value != float64(want.Unix()) {
				t.Errorf("got %v at %s, want %v at %s", s.Value, s.Time, float64(want.Unix()), want)
			}
		})
	}
}

func TestLatestMultipleSeries(t *testing.T) {
	_, srv := newFakeProm(t, func(string) []fakeSeries {
		return []fakeSeries{{labels: map[string]string{"gpu": "0"}, value: minuteValue}, {labels: map[string]string{"gpu": "1"}, value: minuteValue}}
	})
	_, err := sourceFor(t, srv.URL).Latest(context.Background(), "DCGM_FI_DEV_GPU_UTIL", mustTime(t, "2025-03-03T10:00:00Z"), time.Minute)
	var mse *MultipleSeriesError
	if !errors.As(err, &mse) {
		t.Fatalf("err = %v, want a *MultipleSeriesError", err)
	}
	wantAll(t, err, `{gpu="0"}`, `{gpu="1"}`, `"DCGM_FI_DEV_GPU_UTIL"`)
}

func TestGridFloor(t *testing.T) {
	for _, tc := range []struct {
		at   string
		step time.Duration
		want string
	}{
		{"2025-03-03T10:00:59.999Z", time.Minute, "2025-03-03T10:00:00Z"},
		{"2025-03-03T10:01:00Z", time.Minute, "2025-03-03T10:01:00Z"},
		{"1969-12-31T23:59:30Z", time.Minute, "1969-12-31T23:59:00Z"},
		{"2025-03-03T10:09:59Z", 7 * time.Minute, "2025-03-03T10:03:00Z"}, // minute 29,016,609 ≡ 6 (mod 7)
	} {
		got, err := GridFloor(mustTime(t, tc.at), tc.step)
		if err != nil || !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("GridFloor(%s, %s) = %s, %v; want %s", tc.at, tc.step, got, err, tc.want)
		}
	}
	if _, err := GridFloor(time.Now(), 1500*time.Microsecond); err == nil {
		t.Error("GridFloor accepted a step that is not a whole number of milliseconds")
	}
}
