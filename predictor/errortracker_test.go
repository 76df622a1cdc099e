package predictor

import (
	"math"
	"testing"
)

// The forecast made h steps ago is the one scored: with h = 2, the forecast
// handed over at step t is compared with the value observed at t+2.
func TestErrorTrackerScoresTheForecastMadeHStepsAgo(t *testing.T) {
	e, err := NewErrorTracker(2, 10)
	if err != nil {
		t.Fatal(err)
	}
	actual := []float64{10, 10, 10, 20, 10}
	ahead := []float64{12, 8, 10, 10, 10} // forecast for t+2 made at t
	for i := range actual {
		e.Observe(actual[i], ahead[i])
	}
	// Scored: step 2 (10 vs 12), step 3 (20 vs 8), step 4 (10 vs 10).
	wape, n := e.WAPE()
	if n != 3 || math.Abs(wape-(2+12+0)/40.0) > 1e-12 {
		t.Errorf("WAPE %v over %d steps, want %v over 3", wape, n, 14/40.0)
	}
}

func TestErrorTrackerWindowSlidesAndSkipsGaps(t *testing.T) {
	e, _ := NewErrorTracker(1, 3)
	e.Observe(1, 100)        // nothing to score yet
	e.Observe(0, 5)          // |0-100| on zero demand
	e.Observe(math.NaN(), 5) // missing: not scored
	e.Observe(5, math.NaN()) // |5-5|
	e.Observe(7, 7)          // no forecast was made: not scored
	wape, n := e.WAPE()
	// The window holds the last three observations: missing, 5 vs 5, unscored.
	if n != 1 || wape != 0 {
		t.Errorf("WAPE %v over %d, want 0 over 1 (the 100-miss slid out)", wape, n)
	}
	z, _ := NewErrorTracker(1, 2)
	z.Observe(0, 1)
	z.Observe(0, 0)
	if w, n := z.WAPE(); !math.IsInf(w, 1) || n != 1 {
		t.Errorf("a wrong forecast of zero demand: WAPE %v over %d, want +Inf over 1", w, n)
	}
	if _, err := NewErrorTracker(0, 1); err == nil {
		t.Error("horizon 0 accepted")
	}
}
