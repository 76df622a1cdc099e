package startup

import (
	"errors"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

func secs(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, s := range v {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		// numpy.quantile(range(1, 11), q) gives 5.5, 9.1, 1, 10.
		{"median of 1..10", secs(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 0.5, 5500 * time.Millisecond},
		{"p90 of 1..10", secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9100 * time.Millisecond},
		{"q=0 is the minimum", secs(3, 1, 2), 0, time.Second},
		{"q=1 is the maximum", secs(3, 1, 2), 1, 3 * time.Second},
		{"one sample", secs(42), 0.9, 42 * time.Second},
		// numpy.quantile([60, 90, 600], 0.9) = 498.
		{"a slow outlier", secs(90, 600, 60), 0.9, 498 * time.Second},
		{"ties", secs(5, 5, 5, 5), 0.9, 5 * time.Second},
	}
	for _, tt := range tests {
		before := slices.Clone(tt.d)
		got, err := Quantile(tt.d, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("%s: Quantile = %s, want %s", tt.name, got, tt.want)
		}
		if !slices.Equal(before, tt.d) {
			t.Errorf("%s: input modified", tt.name)
		}
	}
	if _, err := Quantile(nil, 0.5); !errors.Is(err, ErrNoSamples) {
		t.Errorf("empty: err = %v, want ErrNoSamples", err)
	}
	for _, q := range []float64{-0.1, 1.1} {
		if _, err := Quantile(secs(1), q); err == nil {
			t.Errorf("q=%v: no error", q)
		}
	}
}

func TestSummarize(t *testing.T) {
	got, err := Summarize(secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
	if err != nil {
		t.Fatal(err)
	}
	want := Estimate{P50: 5500 * time.Millisecond, P90: 9100 * time.Millisecond, Samples: 10}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if _, err := Summarize(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("empty: err = %v, want ErrNoSamples", err)
	}
}

func TestSelect(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	app := map[string]string{"app": "llm", "pod-template-hash": "abc"}
	s := func(ns string, lbls map[string]string, created, ready time.Duration) Sample {
		return Sample{Namespace: ns, Labels: lbls, Created: t0.Add(created), Ready: t0.Add(ready)}
	}
	samples := []Sample{
		s("serving", app, 0, 2*time.Minute),                          // in
		s("serving", app, 10*time.Minute, 15*time.Minute),            // in
		s("serving", app, -2*time.Hour, -110*time.Minute),            // Ready before the window
		s("serving", app, 50*time.Minute, 70*time.Minute),            // Ready after until
		s("staging", app, 0, time.Minute),                            // other namespace
		s("serving", map[string]string{"app": "db"}, 0, time.Minute), // other app
		s("serving", app, 20*time.Minute, 19*time.Minute),            // clock skew
		s("serving", app, -time.Hour, 0),                             // Ready exactly at since: excluded
		s("serving", app, 0, time.Hour),                              // Ready exactly at until: included
	}
	got := Select(samples, "serving", labels.SelectorFromSet(map[string]string{"app": "llm"}), t0, t0.Add(time.Hour))
	want := []time.Duration{2 * time.Minute, 5 * time.Minute, time.Hour}
	if !slices.Equal(got, want) {
		t.Errorf("Select = %v, want %v", got, want)
	}
}
