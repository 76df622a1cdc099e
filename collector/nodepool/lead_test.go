package nodepool

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// started is a sample of pool created at t0+created that took took.
func started(pool string, created, took time.Duration) Sample {
	return Sample{Pool: pool, Created: t0.Add(created), Ready: t0.Add(created + took)}
}

func TestSelectLeads(t *testing.T) {
	samples := []Sample{
		started("gpu", 0, 2*time.Minute),
		started("gpu", time.Hour, 3*time.Minute),
		started("cpu", time.Hour, 40*time.Second),
		// Ready before the window.
		started("gpu", -2*time.Hour, 4*time.Minute),
		// Ready after until.
		started("gpu", 3*time.Hour, 5*time.Minute),
		// Clock skew: Ready before creation.
		{Pool: "gpu", Created: t0.Add(time.Hour), Ready: t0.Add(59 * time.Minute)},
	}
	since, until := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	if got, want := SelectLeads(samples, []string{"gpu"}, since, until), []time.Duration{2 * time.Minute, 3 * time.Minute}; !reflect.DeepEqual(got, want) {
		t.Errorf("gpu: %v, want %v", got, want)
	}
	if got := SelectLeads(samples, nil, since, until); len(got) != 3 {
		t.Errorf("all pools: %v, want 3 samples", got)
	}
	// The window is (since, until]: a sample Ready at since is out, one at
	// until is in.
	if got := SelectLeads(samples, []string{"gpu"}, t0.Add(2*time.Minute), t0.Add(63*time.Minute)); !reflect.DeepEqual(got, []time.Duration{3 * time.Minute}) {
		t.Errorf("window edges: %v", got)
	}
}

func TestLeadP90(t *testing.T) {
	var samples []Sample
	for i, took := range []time.Duration{60, 120, 180, 240, 300} {
		samples = append(samples, started("gpu", time.Duration(i)*time.Hour, took*time.Second))
	}
	samples = append(samples, started("cpu", 0, 30*time.Second))

	got, err := LeadP90(samples, []string{"gpu"}, t0, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Sorted 60..300 s: p50 at h = 2 is 180 s; p90 at h = 3.6 is
	// 240 + 0.6·60 = 276 s.
	if want := (Estimate{P50: 180 * time.Second, P90: 276 * time.Second, Samples: 5}); got != want {
		t.Errorf("LeadP90 = %+v, want %+v", got, want)
	}

	// A window holding the last three: 180, 240, 300 s; p90 at h = 1.8 is
	// 240 + 0.8·60 = 288 s.
	got, err = LeadP90(samples, []string{"gpu"}, t0.Add(2*time.Hour), t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Estimate{P50: 240 * time.Second, P90: 288 * time.Second, Samples: 3}); got != want {
		t.Errorf("last three = %+v, want %+v", got, want)
	}

	// Two samples are too few.
	_, err = LeadP90(samples, []string{"gpu"}, t0.Add(3*time.Hour), t0.Add(5*time.Hour))
	if !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("two samples: err = %v, want ErrTooFewSamples", err)
	}
	if _, err := LeadP90(nil, nil, t0, t0.Add(time.Hour)); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("no samples: err = %v, want ErrTooFewSamples", err)
	}
}
