package prometheus

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeSeries is one series the fake server returns: its labels and its value
// at an evaluation time (ok false: no value at that time).
type fakeSeries struct {
	labels map[string]string
	value  func(t time.Time) (v float64, ok bool)
}

// rangeRequest is a query_range request the fake server received.
type rangeRequest struct {
	query      string
	start, end time.Time
	step       time.Duration
	timeout    string
	auth       string
}

// fakeProm stands in for the Prometheus HTTP API's /api/v1/query_range. It
// evaluates like Prometheus: at start, start+step, … up to end, and refuses
// more than 11,000 steps with Prometheus' own error.
type fakeProm struct {
	t *testing.T
	// series returns the series a query selects; nil returns none.
	series func(query string) []fakeSeries
	// fail, when set, answers a request with that HTTP status and body.
	fail func(r rangeRequest) (status int, body string)
	// delay is slept before answering.
	delay time.Duration

	mu       sync.Mutex
	requests []rangeRequest
}

func newFakeProm(t *testing.T, series func(query string) []fakeSeries) (*fakeProm, *httptest.Server) {
	f := &fakeProm{t: t, series: series}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeProm) received() []rangeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rangeRequest(nil), f.requests...)
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	req := rangeRequest{query: r.Form.Get("query"), timeout: r.Form.Get("timeout"), auth: r.Header.Get("Authorization")}
	var err error
	if req.start, err = parseTime(r.Form.Get("start")); err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", "invalid parameter \"start\": "+err.Error())
		return
	}
	if req.end, err = parseTime(r.Form.Get("end")); err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", "invalid parameter \"end\": "+err.Error())
		return
	}
	stepSec, err := strconv.ParseFloat(r.Form.Get("step"), 64)
	if err != nil || stepSec <= 0 {
		apiError(w, http.StatusBadRequest, "bad_data", "invalid parameter \"step\"")
		return
	}
	req.step = time.Duration(math.Round(stepSec*1e3)) * time.Millisecond
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()

	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.fail != nil {
		if status, body := f.fail(req); status != 0 {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	// Prometheus' check (web/api/v1/api.go): more than 11,000 steps is refused.
	if req.end.Sub(req.start)/req.step > 11000 {
		apiError(w, http.StatusBadRequest, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
		return
	}

	type stream struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	result := []stream{}
	if f.series != nil {
		for _, s := range f.series(req.query) {
			st := stream{Metric: s.labels, Values: [][2]any{}}
			if st.Metric == nil {
				st.Metric = map[string]string{}
			}
			for t := req.start; !t.After(req.end); t = t.Add(req.step) {
				if v, ok := s.value(t); ok {
					st.Values = append(st.Values, [2]any{float64(t.UnixMilli()) / 1e3, strconv.FormatFloat(v, 'f', -1, 64)})
				}
			}
			if len(st.Values) > 0 { // Prometheus leaves out series with no point
				result = append(result, st)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data":   map[string]any{"resultType": "matrix", "result": result},
	})
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": msg})
}

// parseTime reads the Unix seconds (with a fraction) client_golang sends.
func parseTime(s string) (time.Time, error) {
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(math.Round(sec * 1e3))).UTC(), nil
}

// minuteValue is a demand whose value names its own evaluation time (minutes
// since the epoch), so any shifted, duplicated or dropped step shows.
func minuteValue(t time.Time) (float64, bool) {
	return float64(t.UnixMilli()) / 60e3, true
}

// one returns a single unlabelled series.
func one(value func(time.Time) (float64, bool)) func(string) []fakeSeries {
	return func(string) []fakeSeries { return []fakeSeries{{value: value}} }
}

// sourceFor returns a Source on the fake server, built from config the way
// the daemon builds it.
func sourceFor(t *testing.T, url string) *Source {
	t.Helper()
	src, err := New(promConfig(url), nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func describeRequests(rs []rangeRequest) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("\n  %s … %s step %s", r.start.Format(time.RFC3339), r.end.Format(time.RFC3339), r.step)
	}
	return s
}
