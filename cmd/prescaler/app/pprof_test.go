package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// /debug/pprof/ is served only with --pprof.
func TestPprofIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		r := &runner{flags: runFlags{pprof: on}, registry: prometheus.NewRegistry()}
		rec := httptest.NewRecorder()
		r.server().Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/heap", nil))
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("--pprof=%v: /debug/pprof/heap answered %d, want %d", on, rec.Code, want)
		}
	}
}
