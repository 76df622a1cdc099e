package predictor

import "math"

// replay is the fitted model run once more over its training data, from the
// initial states, keeping every forecast it made: the raw material of the
// interval calibration (per-step errors, window peaks, seasonal volatility).
type replay struct {
	horizon int
	// observed[t] is y[t] where the filter used it as demand, NaN where it
	// was missing or an outage zero (its error says nothing about demand).
	observed []float64
	// scale[t] is the running error scale after y[t], 0 where t is not a
	// valid origin (first season, outage, no error seen yet).
	scale []float64
	// forecasts[(h-1)*n+t] is ŷ_{t+h|t}, clamped at zero like Point: one
	// row per horizon, read in order of origin by the calibration.
	forecasts []float64
	// phase0 is the primary-season phase of y[0].
	phase0 int
}

// replayForecasts filters y from the initial states with the fitted
// parameters and records the h-step forecasts, h = 1…horizon, from every
// origin after the first season (states still settling) that is not in an
// outage. It costs O(n·horizon) time and memory.
func replayForecasts(y []float64, spec Spec, p Params, clip float64, horizon int) *replay {
	st := initialState(y, spec)
	warmup := min(max(spec.Period, 10), len(y)/4)
	r := &replay{
		horizon:   horizon,
		observed:  make([]float64, len(y)),
		scale:     make([]float64, len(y)),
		forecasts: make([]float64, horizon*len(y)),
		phase0:    st.phase,
	}
	phiH, lambdaH := make([]float64, horizon+1), make([]float64, horizon+1)
	for h := 1; h <= horizon; h++ {
		phiH[h], lambdaH[h] = dampedSum(p.Phi, h), math.Pow(p.Lambda, float64(h))
	}
	for t, v := range y {
		r.observed[t] = math.NaN()
		if _, used := st.observe(spec, p, v, clip); used {
			r.observed[t] = v
		}
		if t < warmup || st.inOutage() || !(st.scale > 0) {
			continue
		}
		r.scale[t] = st.scale
		for h := 1; h <= horizon; h++ {
			r.forecasts[(h-1)*len(y)+t] = math.Max(0, st.forecastWith(spec, phiH[h], lambdaH[h], h))
		}
	}
	return r
}

// oneStepRatios returns, for every step t, |y_t − ŷ_{t|t−1}| / scale_{t−1}:
// the one-step error in units of the running scale that would have sized
// its interval (NaN where there is none).
func (r *replay) oneStepRatios() []float64 {
	ratios := make([]float64, len(r.observed))
	for t := range ratios {
		ratios[t] = math.NaN()
		if t == 0 || r.scale[t-1] == 0 || math.IsNaN(r.observed[t]) {
			continue
		}
		ratios[t] = standardise(math.Abs(r.observed[t]-r.forecasts[t-1]), r.scale[t-1])
	}
	return ratios
}

// standardised returns the calibration samples, given the seasonal
// volatility factor v_t of each step t:
//
//	steps[h-1]: (y_{t+h} − ŷ_{t+h|t}) / (scale_t · v_{t+h}),                h = 1…H
//	peaks[k-2]: (max_j y_{t+j} − max_j ŷ_{t+j|t}) / (scale_t · max_j v_{t+j}), j = 1…k, k = 2…H
//
// A per-step sample needs its target observed; a window peak needs every
// target of the window observed (a missing or outage step could have been
// the peak). For k = 1 the peak sample equals the one-step sample, so it is
// not kept twice. The windows of all origins grow one step at a time, so
// every array is read and written in order.
func (r *replay) standardised(factor []float64) (steps, peaks [][]float64) {
	h, n := r.horizon, len(r.observed)
	steps, peaks = r.sampleBuffers()
	w := newWindows(n)
	for j := 1; j <= h; j++ {
		row := r.forecasts[(j-1)*n : j*n]
		for t := 0; t+j < n; t++ {
			if r.scale[t] == 0 {
				continue
			}
			y := r.observed[t+j]
			if math.IsNaN(y) {
				w.whole[t] = false
				continue
			}
			v := factor[t+j]
			steps[j-1] = append(steps[j-1], standardise(y-row[t], r.scale[t]*v))
			if !w.whole[t] {
				continue
			}
			w.peakY[t], w.peakF[t], w.peakV[t] = math.Max(w.peakY[t], y), math.Max(w.peakF[t], row[t]), math.Max(w.peakV[t], v)
			if j >= 2 {
				peaks[j-2] = append(peaks[j-2], standardise(w.peakY[t]-w.peakF[t], r.scale[t]*w.peakV[t]))
			}
		}
	}
	return steps, peaks
}

// maxStandardised bounds a standardised error, in error scales. Real
// demand never comes near it; it is reached only when a running scale is
// tiny beside an error (1e-300 beside 1e30), where the quotient would
// overflow to ±Inf. Bounded, every quantile interpolated between samples,
// the float32 peak quantiles included (float32 ends at 3.4e38), and every
// interval (mean + z·scale, at most 1e30 · 3.4e38 for the largest demand a
// model accepts) stays finite.
const maxStandardised = 1e30

// standardise is err / scale, bounded to ±maxStandardised.
func standardise(err, scale float64) float64 {
	return clamp(err/scale, maxStandardised)
}

// windows holds, per origin, the running maxima of the window so far: of
// the observations, the forecasts and the volatility factors, and whether
// every step of it was observed.
type windows struct {
	peakY, peakF, peakV []float64
	whole               []bool
}

func newWindows(n int) windows {
	w := windows{peakY: make([]float64, n), peakF: make([]float64, n), peakV: make([]float64, n), whole: make([]bool, n)}
	for t := range n {
		w.peakY[t], w.peakF[t], w.whole[t] = math.Inf(-1), math.Inf(-1), true
	}
	return w
}

// sampleBuffers returns empty slices for the per-step and peak samples, cut
// from one allocation with room for a sample from every valid origin: the
// samples of one fit are collected without a copy on growth.
func (r *replay) sampleBuffers() (steps, peaks [][]float64) {
	origins := 0
	for _, s := range r.scale {
		if s != 0 {
			origins++
		}
	}
	h := r.horizon
	backing := make([]float64, (2*h-1)*origins)
	cut := func() []float64 {
		part := backing[:0:origins]
		backing = backing[origins:]
		return part
	}
	steps, peaks = make([][]float64, h), make([][]float64, h-1)
	for i := range steps {
		steps[i] = cut()
	}
	for i := range peaks {
		peaks[i] = cut()
	}
	return steps, peaks
}

// calibrate estimates, from a replay of y with the fitted parameters, the
// seasonal volatility factors (when asked for and the model is seasonal)
// and the quantile functions of the standardised h-step errors and window
// peaks, h = 1…horizon. Everything is reduced to quantileGrid points at
// once, so a model keeps a few kilobytes per horizon whatever the length of
// its training data.
func (m *Model) calibrate(y []float64, horizon int, seasonalScale bool) {
	r := replayForecasts(y, m.Spec, m.Params, m.Clip, horizon)
	m.volatility = nil
	if seasonalScale && m.Spec.Season != SeasonNone {
		m.volatility = seasonalVolatility(r.oneStepRatios(), m.Spec.Period, r.phase0)
	}
	factor := make([]float64, len(y))
	for t := range factor {
		factor[t] = m.volatilityAt(r.phase0 + t)
	}
	steps, peaks := r.standardised(factor)
	var sorter floatSorter
	// toFloat32 copies: the samples share one buffer (sampleBuffers), and
	// a short sample, which is its own quantile function, must not keep
	// that buffer alive for the life of the model.
	m.errQuantiles = make([][]float32, len(steps))
	for i, v := range steps {
		m.errQuantiles[i] = toFloat32(sorter.quantileFunction(v))
	}
	m.peakQuantiles = make([][]float32, len(peaks))
	for i, v := range peaks {
		m.peakQuantiles[i] = toFloat32(sorter.quantileFunction(v))
	}
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
