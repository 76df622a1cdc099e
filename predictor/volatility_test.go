package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// repeatProfile returns seasons copies of the per-phase ratios.
func repeatProfile(profile []float64, seasons int) []float64 {
	out := make([]float64, 0, len(profile)*seasons)
	for range seasons {
		out = append(out, profile...)
	}
	return out
}

func TestSmoothedIsTheCircularPooledMean(t *testing.T) {
	// Sums 1, 2, 3, 4 with one ratio per phase; phase 4 has none.
	tot := phaseTotals{sum: []float64{1, 2, 3, 4, 0}, count: []float64{1, 1, 1, 1, 0}, total: 10, n: 4, period: 5}
	cases := []struct {
		half int
		want []float64
	}{
		// No smoothing: each phase its own mean; the empty phase gets the
		// overall mean 10/4.
		{0, []float64{1, 2, 3, 4, 2.5}},
		// ±1 phase, wrapping: phase 0 pools phases 4, 0, 1 → (0+1+2)/(0+1+1).
		{1, []float64{1.5, 2, 3, 3.5, 2.5}},
		// ±2 phases: every window holds four of the five phases.
		{2, []float64{10.0 / 4, 10.0 / 4, 10.0 / 4, 10.0 / 4, 10.0 / 4}},
	}
	for _, c := range cases {
		got := tot.smoothed(c.half)
		for p := range got {
			if !near(got[p], c.want[p], eps) {
				t.Errorf("half %d: θ(%d) = %v, want %v", c.half, p, got[p], c.want[p])
			}
		}
	}
}

func TestSeasonalVolatilityHandChecked(t *testing.T) {
	// Phase 0 of a 4-step season always has errors of 3 scales, the others
	// of 1. θ = (3, 1, 1, 1), mean 1.5, so f = (2, ⅔, ⅔, ⅔); 10 seasons of
	// data give the shape the weight 10/(10+κ) = 10/12.
	ratios := repeatProfile([]float64{3, 1, 1, 1}, 10)
	v := seasonalVolatility(ratios, 4, 0)
	if v == nil {
		t.Fatal("a phase that is volatile in every season gave no factors")
	}
	w := 10 / (10 + volatilityPriorSeasons)
	want := []float64{1 + w*(2-1), 1 + w*(2.0/3-1), 1 + w*(2.0/3-1), 1 + w*(2.0/3-1)}
	sum := 0.0
	for p := range want {
		if !near(float64(v[p]), want[p], 1e-6) { // float32 storage
			t.Errorf("v(%d) = %v, want %v", p, v[p], want[p])
		}
		sum += float64(v[p])
	}
	if !near(sum/4, 1, 1e-6) {
		t.Errorf("mean factor %v, want 1", sum/4)
	}
}

func TestSeasonalVolatilityPhaseOffset(t *testing.T) {
	// The same data starting at phase 2: step 0 is phase 2, so the volatile
	// steps (every 4th from step 2) are phase 0 again.
	ratios := repeatProfile([]float64{1, 1, 3, 1}, 10)
	v := seasonalVolatility(ratios, 4, 2)
	if v == nil || !(v[0] > v[1] && v[0] > v[2] && v[0] > v[3]) {
		t.Errorf("factors %v: want phase 0 the volatile one", v)
	}
}

func TestSeasonalVolatilityNoneWithoutEvidence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float64, 48*20)
	for i := range noise {
		noise[i] = rng.ExpFloat64() // the same distribution at every phase
	}
	cases := []struct {
		name   string
		ratios []float64
		period int
	}{
		{"flat", repeatProfile([]float64{1, 1, 1, 1}, 10), 4},
		{"no error at all", repeatProfile([]float64{0, 0, 0, 0}, 10), 4},
		{"under two seasons", []float64{3, 1, 1, 1, 3, 1, 1}, 4},
		{"all missing", repeatProfile([]float64{math.NaN(), math.NaN()}, 10), 2},
		// Phase-free noise: a per-phase profile fits the noise of one half
		// of the seasons and loses on the other; cross-validation keeps flat.
		{"phase-free noise", noise, 48},
	}
	for _, c := range cases {
		if v := seasonalVolatility(c.ratios, c.period, 0); v != nil {
			t.Errorf("%s: factors %v, want none", c.name, v)
		}
	}
}

func TestSeasonalVolatilityShrinksShortHistories(t *testing.T) {
	// The same shape with 3 seasons of data keeps less of it than with 30.
	few := seasonalVolatility(repeatProfile([]float64{3, 1, 1, 1}, 3), 4, 0)
	many := seasonalVolatility(repeatProfile([]float64{3, 1, 1, 1}, 30), 4, 0)
	if few == nil || many == nil {
		t.Fatal("no factors")
	}
	if !(1 < few[0] && few[0] < many[0] && many[0] < 2) {
		t.Errorf("v(0) with 3 seasons %v, with 30 %v: want 1 < few < many < 2 (the unshrunk value)", few[0], many[0])
	}
}
