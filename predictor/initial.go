package predictor

import (
	"math"
	"slices"
)

// maxInitCycles caps how many seasons the decomposition looks at: enough for
// robust medians, few enough that the start state describes the start.
const maxInitCycles = 28

// initialState estimates the states before the first observation from a
// classical decomposition of the first seasons (Hyndman & Athanasopoulos,
// §3.4): a level per cycle (the cycle mean), seasonal indices as the
// per-phase median of the detrended values, and a trend from the change of the
// cycle levels. Medians rather than means keep a day of outage inside the
// training window from printing itself into the profile.
func initialState(y []float64, spec Spec) state {
	filled := interpolateGaps(y)
	if spec.Season == SeasonNone {
		return nonSeasonalState(filled, spec)
	}
	cycle := spec.Period
	if spec.Period2 > 0 {
		// With a weekly season, the level is the weekly mean, so that the
		// weekday/weekend difference lands in the seasonal states instead of
		// being chased by the level every Monday.
		cycle = spec.Period2
	}
	cycles := min(len(filled)/cycle, maxInitCycles)
	levels := cycleLevels(filled, cycle, cycles)
	good := plausibleCycles(levels)
	detrended := detrend(filled[:cycles*cycle], spec.Season, cycle, levels, good)

	st := state{season: phaseMedians(detrended, spec.Period, neutralOf(spec))}
	smoothCircular(st.season, profileSmoothing(detrended, spec.Period, neutralOf(spec)))
	normalise(st.season, spec.Season)
	if spec.Period2 > 0 {
		st.season2 = secondSeasonIndices(detrended, st.season, spec)
	}
	st.level, st.trend = startLevelTrend(levels, good, cycle, spec)
	st.scale = initialScale(filled, spec, st)
	return st
}

// interpolateGaps returns y with NaNs replaced by linear interpolation between
// the nearest observations (the nearest one at the ends).
func interpolateGaps(y []float64) []float64 {
	out := slices.Clone(y)
	prev := -1
	for i, v := range out {
		if math.IsNaN(v) {
			continue
		}
		switch {
		case prev < 0:
			for j := 0; j < i; j++ {
				out[j] = v
			}
		case i-prev > 1:
			step := (v - out[prev]) / float64(i-prev)
			for j := prev + 1; j < i; j++ {
				out[j] = out[prev] + step*float64(j-prev)
			}
		}
		prev = i
	}
	if prev >= 0 {
		for j := prev + 1; j < len(out); j++ {
			out[j] = out[prev]
		}
	}
	return out
}

func nonSeasonalState(y []float64, spec Spec) state {
	n := min(len(y), 10)
	st := state{level: mean(y[:n])}
	if spec.hasTrend() && len(y) >= 2*n {
		st.trend = (mean(y[n:2*n]) - st.level) / float64(n)
	}
	st.scale = meanAbsDeviation(y[:n], st.level)
	return st
}

// cycleLevels is the mean of each whole cycle.
func cycleLevels(y []float64, cycle, cycles int) []float64 {
	levels := make([]float64, cycles)
	for k := range levels {
		levels[k] = mean(y[k*cycle : (k+1)*cycle])
	}
	return levels
}

// plausibleCycles marks cycles whose level is at least a fifth of the median
// cycle level: lower ones are outages or holes, not demand.
func plausibleCycles(levels []float64) []bool {
	med := median(slices.Clone(levels))
	good := make([]bool, len(levels))
	any := false
	for k, l := range levels {
		good[k] = l > 0.2*med || med <= 0
		any = any || good[k]
	}
	if !any {
		for k := range good {
			good[k] = true
		}
	}
	return good
}

// detrend removes the cycle level: y − L (additive) or y / L (multiplicative).
// Values of implausible cycles become NaN so the medians skip them.
func detrend(y []float64, season Seasonality, cycle int, levels []float64, good []bool) []float64 {
	out := make([]float64, len(y))
	for t, v := range y {
		k := t / cycle
		switch {
		case !good[k]:
			out[t] = math.NaN()
		case season == SeasonMultiplicative:
			out[t] = v / math.Max(levels[k], 1e-9)
		default:
			out[t] = v - levels[k]
		}
	}
	return out
}

func neutralOf(spec Spec) float64 {
	if spec.Season == SeasonMultiplicative {
		return 1
	}
	return 0
}

// phaseMedians returns, for each phase of the period, the median of the
// detrended values at that phase (NaN skipped; neutral when none is left).
func phaseMedians(detrended []float64, period int, neutral float64) []float64 {
	out := make([]float64, period)
	buf := make([]float64, 0, len(detrended)/period+1)
	for j := range out {
		buf = buf[:0]
		for t := j; t < len(detrended); t += period {
			if !math.IsNaN(detrended[t]) {
				buf = append(buf, detrended[t])
			}
		}
		if len(buf) == 0 {
			out[j] = neutral
			continue
		}
		out[j] = median(buf)
	}
	return out
}

// secondSeasonIndices estimates the second season as what the week adds to
// the daily profile, smoothed over an hour-long window (a week of minutes is
// estimated from only a couple of values per phase).
func secondSeasonIndices(detrended, daily []float64, spec Spec) []float64 {
	rest := make([]float64, len(detrended))
	for t, v := range detrended {
		if spec.Season == SeasonMultiplicative {
			rest[t] = v / math.Max(daily[t%spec.Period], minSeasonalFactor)
		} else {
			rest[t] = v - daily[t%spec.Period]
		}
	}
	weekly := phaseMedians(rest, spec.Period2, neutralOf(spec))
	smoothCircular(weekly, spec.Period/24)
	normalise(weekly, spec.Season)
	return weekly
}

// smoothingFractions are the candidate half-widths of the profile smoother, as
// fractions of the season: for a daily season 0, 5, 10, 15, 30 and 60 minutes.
var smoothingFractions = []float64{0, 1.0 / 288, 1.0 / 144, 1.0 / 96, 1.0 / 48, 1.0 / 24}

// profileSmoothing picks, by two-fold cross-validation over the cycles, how
// much to smooth the seasonal profile. With γ small the profile changes little
// after initialisation, so its noise goes straight into every forecast; a
// per-phase median over a handful of noisy days is rough at 1- or 5-minute
// steps, while real demand profiles are smooth at that scale. The profile of
// the even cycles is scored on the odd ones and vice versa; the half-width
// with the lowest mean absolute error wins (the narrower one on ties).
func profileSmoothing(detrended []float64, period int, neutral float64) int {
	cycles := len(detrended) / period
	if cycles < 2 {
		return 0
	}
	even, odd := foldByCycle(detrended, period)
	profEven, profOdd := phaseMedians(even, period, neutral), phaseMedians(odd, period, neutral)
	best, bestErr := 0, math.Inf(1)
	for _, frac := range smoothingFractions {
		half := int(math.Round(frac * float64(period)))
		if half > 0 && 2*half+1 > period {
			continue
		}
		a, b := slices.Clone(profEven), slices.Clone(profOdd)
		smoothCircular(a, half)
		smoothCircular(b, half)
		if err := crossError(detrended, period, a, b); err < bestErr*(1-1e-12) {
			best, bestErr = half, err
		}
	}
	return best
}

// foldByCycle splits a series into two copies holding only the even or only
// the odd cycles (NaN elsewhere).
func foldByCycle(v []float64, period int) (even, odd []float64) {
	even, odd = slices.Clone(v), slices.Clone(v)
	for t := range v {
		if (t/period)%2 == 0 {
			odd[t] = math.NaN()
		} else {
			even[t] = math.NaN()
		}
	}
	return even, odd
}

// crossError is the mean absolute difference between each value and the
// profile estimated from the other fold.
func crossError(v []float64, period int, profEven, profOdd []float64) float64 {
	sum, n := 0.0, 0
	for t, x := range v {
		if math.IsNaN(x) {
			continue
		}
		other := profOdd
		if (t/period)%2 == 1 {
			other = profEven
		}
		sum += math.Abs(x - other[t%period])
		n++
	}
	return sum / float64(max(n, 1))
}

// smoothCircular replaces each value by the mean of a centred window of
// 2*half+1 values, wrapping around the season.
func smoothCircular(v []float64, half int) {
	if half < 1 || len(v) < 2*half+1 {
		return
	}
	src := slices.Clone(v)
	n := len(src)
	width := float64(2*half + 1)
	sum := 0.0
	for i := -half; i <= half; i++ {
		sum += src[(i+n)%n]
	}
	for j := range v {
		v[j] = sum / width
		sum += src[(j+half+1)%n] - src[(j-half+n)%n]
	}
}

// normalise makes additive indices sum to zero and multiplicative ones
// average one, so the level carries the mean.
func normalise(v []float64, season Seasonality) {
	m := mean(v)
	for j := range v {
		if season == SeasonMultiplicative {
			v[j] = math.Max(v[j]/m, minSeasonalFactor)
		} else {
			v[j] -= m
		}
	}
}

// startLevelTrend sets the level at the start from the first plausible cycle
// and the trend from the median change between consecutive plausible cycles.
func startLevelTrend(levels []float64, good []bool, cycle int, spec Spec) (float64, float64) {
	first := slices.Index(good, true)
	level := levels[first]
	if !spec.hasTrend() {
		return level, 0
	}
	var changes []float64
	for k := first + 1; k < len(levels); k++ {
		if good[k] && good[k-1] {
			changes = append(changes, (levels[k]-levels[k-1])/float64(cycle))
		}
	}
	trend := 0.0
	if len(changes) > 0 {
		trend = median(changes)
	}
	// The cycle mean sits in the middle of the cycle; step back to its start.
	return level - trend*float64(cycle-1)/2, trend
}

// initialScale is the mean absolute deviation of the first cycle from the
// initial level and profile: the error scale before any forecast was made.
func initialScale(y []float64, spec Spec, st state) float64 {
	n := min(len(y), spec.Period)
	sum := 0.0
	for t := 0; t < n; t++ {
		s1 := st.season[t%spec.Period]
		s2 := neutralOf(spec)
		if st.season2 != nil {
			s2 = st.season2[t%spec.Period2]
		}
		sum += math.Abs(y[t] - combine(spec, st.level, s1, s2))
	}
	return sum / float64(n)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

func meanAbsDeviation(v []float64, center float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += math.Abs(x - center)
	}
	return sum / float64(max(len(v), 1))
}

// median sorts v in place and returns its median.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
