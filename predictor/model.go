package predictor

import (
	"fmt"
	"math"
)

// Model is a fitted forecaster positioned after the last observation it saw.
// It is not safe for concurrent use.
type Model struct {
	Spec   Spec
	Params Params
	// AICc, SSE and Observations describe the fit on its training data.
	AICc         float64
	SSE          float64
	Observations int
	// Filled counts missing values (NaN) replaced by the one-step forecast,
	// during the fit and in Update since.
	Filled int
	// OutageSteps counts zeros treated as an outage rather than demand.
	OutageSteps int
	// Notes explain choices the data forced, e.g. a non-seasonal model for a
	// short history.
	Notes []string
	// Clip is the robust clipping level used by the fit and by Update.
	Clip float64

	st state
	// errQuantiles[h-1] is the quantile function (quantileGrid points) of
	// the standardised in-sample h-step errors, h = 1…Horizon.
	// peakQuantiles[k-2] is the quantile function of the standardised
	// excess of the peak over k steps, k = 2…Horizon (k = 1 is
	// errQuantiles[0]). float32 is ample for a quantile of noisy errors
	// (seven significant digits), and halves what a thousand models hold.
	errQuantiles  [][]float32
	peakQuantiles [][]float32
	// volatility[p] is the seasonal volatility factor of phase p of the
	// primary season (volatility.go); nil means 1 at every phase.
	volatility []float32
}

// Forecast is a point forecast with a central prediction interval.
type Forecast struct {
	Mean  float64
	Lower float64
	Upper float64
	// Outage is true while recent observations are an outage: the mean and
	// lower bound follow the zeros, the upper bound keeps normal demand.
	Outage bool
}

// Update feeds the next observation (NaN = missing) in O(1): the states move
// with the fitted parameters and no refit happens.
func (m *Model) Update(y float64) {
	if math.IsNaN(y) {
		m.Filled++
	}
	if _, ok := m.st.observe(m.Spec, m.Params, y, m.Clip); !ok && !math.IsNaN(y) {
		m.OutageSteps++
	}
}

// Point returns the h-step point forecast (h ≥ 1), never negative.
func (m *Model) Point(h int) float64 {
	if m.st.inOutage() {
		return 0
	}
	return math.Max(0, m.st.forecast(m.Spec, m.Params, h))
}

// Quantile returns the q-quantile of the h-step forecast distribution. During
// an outage the lower half is zero (the zeros go on) and the upper half keeps
// the normal demand, so a floor sized from a high quantile survives an outage.
func (m *Model) Quantile(h int, q float64) (float64, error) {
	if h < 1 {
		return 0, fmt.Errorf("horizon %d must be at least 1 step", h)
	}
	if !(q > 0 && q < 1) {
		return 0, fmt.Errorf("quantile %v must be in (0, 1)", q)
	}
	if m.st.inOutage() && q <= 0.5 {
		return 0, nil
	}
	mean := math.Max(0, m.st.forecast(m.Spec, m.Params, h))
	return math.Max(0, mean+m.errorQuantile(h, q)*m.stepScale(h)), nil
}

// stepScale is the interval scale of the step h steps ahead: the running
// error scale times the seasonal volatility factor of that step's phase.
func (m *Model) stepScale(h int) float64 {
	return m.st.scale * m.volatilityAt(m.st.phase+h-1)
}

// VolatilityFactor is the seasonal volatility factor of the step h ≥ 1 steps
// ahead: the multiple of the running error scale its interval uses. It is 1
// with Options.NoSeasonalScale, for a model without a season and for one
// whose errors showed no phase pattern that held across seasons.
func (m *Model) VolatilityFactor(h int) float64 {
	return m.volatilityAt(m.st.phase + max(h, 1) - 1)
}

// volatilityAt is the seasonal volatility factor of the step whose phase,
// counted from any phase-0 step, is phase (≥ 0).
func (m *Model) volatilityAt(phase int) float64 {
	if m.volatility == nil {
		return 1
	}
	return float64(m.volatility[wrap(phase, len(m.volatility))])
}

// ForecastAt returns the h-step forecast with its central interval of the
// given coverage (e.g. 0.8 for the 10 %–90 % interval).
func (m *Model) ForecastAt(h int, coverage float64) (Forecast, error) {
	if !(coverage > 0 && coverage < 1) {
		return Forecast{}, fmt.Errorf("interval coverage %v must be in (0, 1)", coverage)
	}
	lower, err := m.Quantile(h, (1-coverage)/2)
	if err != nil {
		return Forecast{}, err
	}
	upper, err := m.Quantile(h, (1+coverage)/2)
	if err != nil {
		return Forecast{}, err
	}
	return Forecast{Mean: m.Point(h), Lower: lower, Upper: upper, Outage: m.st.inOutage()}, nil
}

// Horizon is the longest horizon with calibrated interval quantiles.
func (m *Model) Horizon() int { return len(m.errQuantiles) }

// Level returns the current level state, for reporting.
func (m *Model) Level() float64 { return m.st.level }

// String summarises the model in one line.
func (m *Model) String() string {
	return fmt.Sprintf("%s %s aicc=%.1f n=%d", m.Spec, m.Params, m.AICc, m.Observations)
}

// errorQuantile is the q-quantile of the standardised h-step error. Beyond
// the calibrated horizon H it widens the H-step quantile by √(h/H), the growth
// of a random walk's spread, as a conservative extrapolation.
func (m *Model) errorQuantile(h int, q float64) float64 {
	hq := min(h, len(m.errQuantiles))
	if hq == 0 {
		return 0
	}
	z := quantileSorted(m.errQuantiles[hq-1], q)
	if h > hq {
		z *= math.Sqrt(float64(h) / float64(hq))
	}
	return z
}

// quantileGrid is the number of points kept of an empirical quantile
// function: the 0, 1/200, …, 1 quantiles. The common levels (0.1, 0.5, 0.9,
// 0.95, 0.99) fall on the grid exactly; between grid points the linear
// interpolation differs from the full sample's quantile by less than the
// sample's own noise.
const quantileGrid = 201

// quantileFunction sorts v and returns its quantiles on the grid (v itself
// when it is not longer than the grid).
func (s *floatSorter) quantileFunction(v []float64) []float64 {
	s.sort(v)
	if len(v) <= quantileGrid {
		return v
	}
	out := make([]float64, quantileGrid)
	for i := range out {
		out[i] = quantileSorted(v, float64(i)/float64(quantileGrid-1))
	}
	return out
}

// quantileSorted is the linear-interpolation (type 7) quantile of sorted v.
func quantileSorted[F float32 | float64](v []F, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	pos := q * float64(len(v)-1)
	i := int(math.Floor(pos))
	if i >= len(v)-1 {
		return float64(v[len(v)-1])
	}
	frac := pos - float64(i)
	lo, hi := float64(v[i]), float64(v[i+1])
	return lo + frac*(hi-lo)
}
