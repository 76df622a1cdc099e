package predictor

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzFitForecast: for any input over the whole float64 range, Fit either
// refuses it with an error or returns a model whose forecasts are finite and
// non-negative, whose intervals are ordered and whose peak quantile is never
// below the last step's quantile; updates with any value keep it so.
func FuzzFitForecast(f *testing.F) {
	f.Add(uint8(0), encodeSeries(1, 2, 3, 4, 5))
	f.Add(uint8(4), encodeSeries(make([]float64, 8)...)) // all zeros
	f.Add(uint8(3), encodeSeries(math.NaN(), 1, math.NaN(), 2, 3, 4, 5, 6))
	f.Add(uint8(2), encodeSeries(0, 65534, 0, 65534, 0, 65534, 0, 65534))
	f.Add(uint8(6), encodeSeries(7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7))
	// Extremes: subnormal demand beside the largest a model accepts, beside
	// values no model accepts, and far outside any traffic.
	f.Add(uint8(2), encodeSeries(1e-320, 1e308, 1e-320, 1e308, 1e-320, 1e308, 1e-320, 1e308))
	f.Add(uint8(2), encodeSeries(1e-320, MaxDemand, 5e-324, MaxDemand, 1e-320, MaxDemand, 0, MaxDemand))
	f.Add(uint8(0), encodeSeries(3e38, 400, 410, 390, 405, 395, 400, 3e38))
	f.Add(uint8(0), encodeSeries(math.Inf(1), 1, 2, 3, 4))
	f.Add(uint8(0), encodeSeries(-1, 1, 2, 3, 4))
	f.Add(uint8(5), encodeSeries(400, 1e11, 410, 390, 1e-300, 395, 400, 1e15, 400, 420, 380, 400))
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

// encodeSeries is the inverse of decodeSeries.
func encodeSeries(y ...float64) []byte {
	data := make([]byte, 8*len(y))
	for i, v := range y {
		binary.LittleEndian.PutUint64(data[8*i:], math.Float64bits(v))
	}
	return data
}

// decodeSeries reads little-endian float64 values: any bit pattern, so the
// fuzzer reaches every number Fit may be given (NaN is a missing value).
func decodeSeries(data []byte) []float64 {
	y := make([]float64, len(data)/8)
	for i := range y {
		y[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
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
