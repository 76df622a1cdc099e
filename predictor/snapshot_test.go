package predictor

import (
	"bytes"
	"encoding/gob"
	"math"
	"testing"
)

// A Rolling restored from a snapshot, fed the same steps as the one it was
// taken from, forecasts the same, through updates, refits, refused values
// and missing steps; the snapshot survives an encoding round trip.
func TestRestoredRollingForecastsAsTheOriginal(t *testing.T) {
	y := simulateAdditive(5, 24*16, 24, 0.2, 0.1, 0.3, 10)
	y[24*11+3] = math.NaN() // missing
	y[24*12+5] = 1e9        // implausible
	y[24*13] = 0
	opts := RollingOptions{Options: Options{Period: 24, Horizon: 4, Clip: 5}, Window: 24 * 10, RefitEvery: 24, FirstRefit: 7}
	for _, cut := range []int{24*5 + 1, 24*10 + 2, 24*11 + 6} { // before the first fit, after it, after a refit
		orig, err := NewRolling(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range y[:cut] {
			_, _ = orig.Observe(v)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(orig.Snapshot()); err != nil {
			t.Fatal(err)
		}
		var snap RollingSnapshot
		if err := gob.NewDecoder(&buf).Decode(&snap); err != nil {
			t.Fatal(err)
		}
		restored, err := RestoreRolling(opts, snap)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for i, v := range y[cut:] {
			fa, ea := orig.Observe(v)
			fb, eb := restored.Observe(v)
			if fa != fb || (ea == nil) != (eb == nil) {
				t.Fatalf("cut %d, step %d: fitted %v/%v, err %v/%v", cut, cut+i, fa, fb, ea, eb)
			}
			ma, mb := orig.Model(), restored.Model()
			if (ma == nil) != (mb == nil) {
				t.Fatalf("cut %d, step %d: model %v, restored %v", cut, cut+i, ma != nil, mb != nil)
			}
			if ma == nil {
				continue
			}
			for h := 1; h <= 6; h++ {
				fa, _ := ma.ForecastAt(h, 0.8)
				fb, _ := mb.ForecastAt(h, 0.8)
				if fa != fb {
					t.Fatalf("cut %d, step %d, h %d: forecast %+v, restored %+v", cut, cut+i, h, fa, fb)
				}
			}
			pa, pb := make([]float64, 6), make([]float64, 6)
			_, _ = ma.PeakQuantiles(0.9, pa), mb.PeakQuantiles(0.9, pb)
			if !equalFloats(pa, pb) {
				t.Fatalf("cut %d, step %d: peaks %v, restored %v", cut, cut+i, pa, pb)
			}
		}
		if orig.Fits != restored.Fits || orig.Seen() != restored.Seen() || orig.PlausibleLimit() != restored.PlausibleLimit() {
			t.Errorf("cut %d: fits %d/%d, seen %d/%d", cut, orig.Fits, restored.Fits, orig.Seen(), restored.Seen())
		}
		for r := range rejectionCount {
			if orig.Rejected(r) != restored.Rejected(r) {
				t.Errorf("cut %d: %s refused %d, restored %d", cut, r, orig.Rejected(r), restored.Rejected(r))
			}
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestRestoreRollingRefusesAMismatch(t *testing.T) {
	opts := RollingOptions{Options: Options{Period: 24}, Window: 24 * 3, RefitEvery: 24}
	r, _ := NewRolling(opts)
	for i := range 24 * 4 {
		_, _ = r.Observe(100 + float64(i%24))
	}
	snap := r.Snapshot()
	longer := opts
	longer.Window = 24 * 4
	if _, err := RestoreRolling(longer, snap); err == nil {
		t.Error("a snapshot restored with another window")
	}
	other := opts
	other.Period = 12
	if _, err := RestoreRolling(other, snap); err == nil {
		t.Error("a snapshot restored with another season")
	}
	bad := r.Snapshot()
	bad.Model.Season = bad.Model.Season[:3]
	if _, err := RestoreRolling(opts, bad); err == nil {
		t.Error("a model with 3 seasonal states restored")
	}
}

func TestRestoredErrorTrackerScoresAsTheOriginal(t *testing.T) {
	a, _ := NewErrorTracker(3, 20)
	for i := range 30 {
		a.Observe(float64(i), float64(i)+1)
	}
	b, err := RestoreErrorTracker(3, 20, a.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		a.Observe(float64(i*2), 5)
		b.Observe(float64(i*2), 5)
	}
	wa, na := a.WAPE()
	wb, nb := b.WAPE()
	if wa != wb || na != nb {
		t.Errorf("WAPE %v over %d, restored %v over %d", wa, na, wb, nb)
	}
	if _, err := RestoreErrorTracker(4, 20, a.Snapshot()); err == nil {
		t.Error("a 3-step tracker restored as a 4-step one")
	}
}
