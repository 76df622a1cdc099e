package predictor

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// feed observes y and returns, after every step, the 1-step point forecast
// and 0.9-quantile of the peak over 3 steps (NaN before the first fit),
// with the errors Observe returned.
func feed(t *testing.T, r *Rolling, y []float64) (forecasts []float64, errs []error) {
	t.Helper()
	for _, v := range y {
		_, err := r.Observe(v)
		if err != nil {
			errs = append(errs, err)
		}
		point, peak := math.NaN(), math.NaN()
		if m := r.Model(); m != nil {
			point = m.Point(1)
			if peak, err = m.PeakQuantile(3, 0.9); err != nil {
				t.Fatal(err)
			}
		}
		forecasts = append(forecasts, point, peak)
	}
	return forecasts, errs
}

func newTestRolling(t *testing.T) *Rolling {
	t.Helper()
	r, err := NewRolling(RollingOptions{Options: Options{Period: 24, Horizon: 3, Clip: 5}, Window: 24 * 10, RefitEvery: 24})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Absurd samples, before the first fit (3e38: within float32, it used to
// wreck the initial seasonal state) and after it (1e39: beyond float32, it
// used to become +Inf in the history and fail every refit for a whole
// window; 1e11), leave every forecast exactly as if they were missing, and
// are counted by reason.
func TestRollingRefusesAbsurdDemand(t *testing.T) {
	clean := simulateAdditive(31, 24*14, 24, 0.2, 0.1, 0.3, 10)
	faults := map[int]float64{5: 3e38, 24*10 + 3: 1e39, 24*10 + 7: 1e11, 24*12 + 1: -4}
	absurd, missing := append([]float64(nil), clean...), append([]float64(nil), clean...)
	for i, v := range faults {
		absurd[i], missing[i] = v, math.NaN()
	}
	got, errs := feed(t, newTestRolling(t), absurd)
	want, _ := feed(t, newTestRolling(t), missing)
	for i := range got {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Fatalf("step %d: forecast %v, %v with the samples missing", i/2, got[i], want[i])
		}
	}
	// 3e38 came before the first fit, which refused it without an error.
	if len(errs) != 3 {
		t.Fatalf("errors %v, want one for each of the three samples after the first fit", errs)
	}
	for i, reason := range []Rejection{RejectNotFinite, RejectImplausible, RejectNegative} {
		var rejected *RejectedError
		if !errors.As(errs[i], &rejected) || rejected.Reason != reason {
			t.Errorf("error %v, want a %s rejection", errs[i], reason)
		}
	}
	r := newTestRolling(t)
	feed(t, r, absurd)
	for reason, n := range map[Rejection]int{RejectNotFinite: 1, RejectImplausible: 2, RejectNegative: 1} {
		if got := r.Rejected(reason); got != n {
			t.Errorf("Rejected(%s) = %d, want %d", reason, got, n)
		}
	}
	if r.FailedRefits != 0 {
		t.Errorf("%d refits failed: %v", r.FailedRefits, r.LastError)
	}
	// History, which the headroom tuner replays, holds them as missing too.
	history, first := r.History(), len(absurd)-24*10
	for i, v := range faults {
		if i >= first && !math.IsNaN(history[i-first]) {
			t.Errorf("History at step %d = %v, want the refused %v missing", i, history[i-first], v)
		}
	}
}

// A burst of 20 times the typical demand is demand, not a fault.
func TestRollingAcceptsBursts(t *testing.T) {
	y := simulateAdditive(32, 24*14, 24, 0.2, 0.1, 0.3, 10)
	for _, start := range []int{24*3 + 5, 24*11 + 5} { // before and after the first fit
		for i := start; i < start+4; i++ {
			y[i] *= 20
		}
	}
	r := newTestRolling(t)
	if _, errs := feed(t, r, y); len(errs) > 0 {
		t.Fatalf("a 20x burst was refused: %v", errs)
	}
	if n := r.Rejected(RejectImplausible); n != 0 {
		t.Errorf("%d implausible values in a 20x burst", n)
	}
	if limit := r.PlausibleLimit(); !(limit > 20*1100) {
		t.Errorf("plausible limit %v is not above the burst", limit)
	}
}

// Demand that moves to a new level far above the old one is refused until
// it fills more than 1 % of the window, then accepted from the next refit:
// what a restart reading that history would do.
func TestRollingAcceptsALastingNewLevel(t *testing.T) {
	y := simulateAdditive(33, 24*16, 24, 0.2, 0.1, 0.3, 10)
	const shift = 24 * 11
	for i := shift; i < len(y); i++ {
		y[i] *= 1000
	}
	r := newTestRolling(t)
	var refused []int
	for i, v := range y {
		if _, err := r.Observe(v); err != nil {
			refused = append(refused, i)
		}
	}
	if len(refused) == 0 || refused[len(refused)-1] >= 24*13 {
		t.Fatalf("steps refused %v: want the new level refused at first and accepted within two refits", refused)
	}
	if p := r.Model().Point(1); p < 500_000 {
		t.Errorf("forecast %v after days at the new level of ~1e6", p)
	}
}

// The limit comes from the busiest percent of the positive values, never
// from the single largest value, and needs a few values to judge.
func TestPlausibleLimit(t *testing.T) {
	tests := []struct {
		name   string
		window []float64
		want   float64
	}{
		{"too few positive values", []float64{0, 0, 5, math.NaN(), 1e30, 7}, math.Inf(1)},
		{"one outlier in a short window", []float64{400, 410, 0, 390, 3e38, math.NaN()}, 100 * 410},
		{"a constant", []float64{7, 7, 7, 7}, 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plausibleLimit(tt.window); got != tt.want {
				t.Errorf("plausibleLimit(%v) = %v, want %v", tt.window, got, tt.want)
			}
		})
	}
}

// Values beyond MaxDemand are refused with the index and the value; tiny
// values beside far larger ones give finite intervals (the standardised
// errors used to overflow float32 and the peak bounds came out NaN).
func TestFitExtremeMagnitudes(t *testing.T) {
	y := []float64{1e-320, 1e308, 1e-320, 1e308, 1e-320, 1e308, 1e-320, 1e308}
	if _, err := Fit(y, Options{Period: 2, Horizon: 3}); err == nil || !strings.Contains(err.Error(), "y[1] = 1e+308") {
		t.Errorf("Fit with 1e308: err %v, want one naming y[1] and its value", err)
	}
	for i := 1; i < len(y); i += 2 {
		y[i] = MaxDemand
	}
	for _, series := range [][]float64{y, {1.4e-76, 4.8e-38, 1.4e-76, 1.4e-76, 1.4e-76}} {
		for _, period := range []int{0, 2} {
			m, err := Fit(series, Options{Period: period, Horizon: 3})
			if err != nil {
				t.Fatal(err)
			}
			for h := 1; h <= 4; h++ {
				fc, err := m.ForecastAt(h, 0.8)
				if err != nil {
					t.Fatal(err)
				}
				peak, _ := m.PeakQuantile(h, 0.9)
				for _, v := range []float64{fc.Mean, fc.Lower, fc.Upper, peak} {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("%v, period %d, h=%d: forecast %+v, peak %v", series, period, h, fc, peak)
					}
				}
			}
		}
	}
}
