package predictor

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzFitForecast: for any finite, non-negative input, fit and forecast never
// panic and never return NaN or a negative value, and the peak quantile is
// never below the last step's quantile.
func FuzzFitForecast(f *testing.F) {
	f.Add(uint8(0), []byte{1, 0, 2, 0, 3, 0, 4, 0, 5, 0})
	f.Add(uint8(4), make([]byte, 64)) // all zeros
	f.Add(uint8(3), []byte{0xff, 0xff, 1, 0, 0xff, 0xff, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0})
	f.Add(uint8(2), []byte{0, 0, 0xff, 0xfe, 0, 0, 0xff, 0xfe, 0, 0, 0xff, 0xfe, 0, 0, 0xff, 0xfe})
	constant := make([]byte, 96)
	for i := 0; i < len(constant); i += 2 {
		constant[i] = 7
	}
	f.Add(uint8(6), constant)
	f.Fuzz(func(t *testing.T, periodByte uint8, data []byte) {
		y := decodeSeries(data)
		period := int(periodByte % 32)
		if period == 1 {
			period = 0
		}
		m, err := Fit(y, Options{Period: period, Horizon: 3, Clip: 5})
		if err != nil {
			return // invalid input is allowed to fail, not to panic
		}
		for i := 0; i < 5; i++ {
			checkForecasts(t, m)
			m.Update(y[i%len(y)])
		}
		m.Update(math.NaN())
		m.Update(0)
		m.Update(0)
		m.Update(0)
		checkForecasts(t, m)
	})
}

// decodeSeries reads little-endian uint16 values; 0xffff is a missing value.
func decodeSeries(data []byte) []float64 {
	y := make([]float64, len(data)/2)
	for i := range y {
		v := binary.LittleEndian.Uint16(data[2*i:])
		if v == 0xffff {
			y[i] = math.NaN()
		} else {
			y[i] = float64(v)
		}
	}
	return y
}

func checkForecasts(t *testing.T, m *Model) {
	t.Helper()
	for h := 1; h <= 5; h++ {
		fc, err := m.ForecastAt(h, 0.8)
		if err != nil {
			t.Fatalf("ForecastAt(%d): %v", h, err)
		}
		for _, v := range []float64{fc.Mean, fc.Lower, fc.Upper} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%s: h=%d forecast %+v", m, h, fc)
			}
		}
		if fc.Lower > fc.Upper {
			t.Fatalf("%s: h=%d lower > upper: %+v", m, h, fc)
		}
		peak, err := m.PeakQuantile(h, 0.9)
		if err != nil {
			t.Fatalf("PeakQuantile(%d): %v", h, err)
		}
		if math.IsNaN(peak) || math.IsInf(peak, 0) || peak < fc.Upper {
			t.Fatalf("%s: PeakQuantile(%d, 0.9) = %v below the step's 0.9-quantile %v", m, h, peak, fc.Upper)
		}
	}
}
