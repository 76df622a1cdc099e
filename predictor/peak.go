package predictor

import (
	"fmt"
	"math"
)

// PeakQuantile returns the q-quantile of the peak demand over the next k
// steps, P_k = max(y_{t+1}, …, y_{t+k}): the level that the demand of the
// whole window stays under with probability q. A replica floor that must
// hold for k steps is sized from it. It is not the largest of the per-step
// quantiles: with q = 0.9 each step alone stays under its quantile 90 % of
// the time, but the window's peak exceeds the largest of them far more often
// when the steps are noisy.
//
// With F_k = max_j ŷ_{t+j|t} the peak of the point forecasts and
// V_k = max_j v(phase of t+j) the largest seasonal volatility factor of the
// window (1 with Options.NoSeasonalScale), the standardised excess
//
//	Z_k = (P_k − F_k) / (scale_t · V_k)
//
// is collected in the fit for every origin and k = 1…Horizon, exactly as the
// per-step errors are (calibrate.go), and
//
//	PeakQuantile(k, q) = max over j ≤ k of max(F_j + z_j(q)·scale_t·V_j, Quantile(j, q))
//
// with z_j(q) the empirical q-quantile of Z_j. The running maximum over j
// imposes what holds for the true quantiles and what sampling noise can
// break: the peak over a longer window is no smaller, and the q-quantile of
// a maximum is at least the q-quantile of each of its terms. So the result
// never decreases in k or q, is never below the per-step quantiles, and
// PeakQuantile(1, q) = Quantile(1, q) (Z_1 is the one-step error).
//
// Beyond the calibrated horizon H, z_j(q) = z_H(q)·√(j/H) (the spread of a
// random walk, as for Quantile) while F_j and V_j keep running over the
// whole window: a conservative extrapolation, since the peak of k noisy
// steps grows more slowly than √k.
//
// The result is never negative. During an outage the lower half (q ≤ 0.5)
// is zero and the upper half keeps the normal demand, as for Quantile.
// It costs O(k): one point forecast and two grid look-ups per step.
func (m *Model) PeakQuantile(k int, q float64) (float64, error) {
	if k < 1 {
		return 0, fmt.Errorf("peak window of %d steps must be at least 1 step", k)
	}
	if !(q > 0 && q < 1) {
		return 0, fmt.Errorf("quantile %v must be in (0, 1)", q)
	}
	return m.peaksUpTo(k, q, nil), nil
}

// PeakQuantiles fills out[k-1] with PeakQuantile(k, q) for every k up to
// len(out), in one O(len(out)) pass: the windows a decision covers all start
// at the next step, so each is the running maximum of the one before.
func (m *Model) PeakQuantiles(q float64, out []float64) error {
	if len(out) < 1 {
		return fmt.Errorf("peak windows: %d asked for, at least 1 needed", len(out))
	}
	if !(q > 0 && q < 1) {
		return fmt.Errorf("quantile %v must be in (0, 1)", q)
	}
	m.peaksUpTo(len(out), q, out)
	return nil
}

// peaksUpTo is the running maximum behind PeakQuantile for windows 1…k,
// written into out when it is not nil; it returns the k-step value.
func (m *Model) peaksUpTo(k int, q float64, out []float64) float64 {
	if m.st.inOutage() && q <= 0.5 {
		clear(out)
		return 0
	}
	peak, peakMean, peakFactor := 0.0, 0.0, 0.0
	for j := 1; j <= k; j++ {
		mean := math.Max(0, m.st.forecast(m.Spec, m.Params, j))
		factor := m.volatilityAt(m.st.phase + j - 1)
		peakMean, peakFactor = math.Max(peakMean, mean), math.Max(peakFactor, factor)
		window := peakMean + m.peakExcessQuantile(j, q)*(m.st.scale*peakFactor)
		step := mean + m.errorQuantile(j, q)*(m.st.scale*factor) // Quantile(j, q)
		peak = math.Max(peak, math.Max(window, step))
		if out != nil {
			out[j-1] = peak
		}
	}
	return peak
}

// peakExcessQuantile is z_k(q), the q-quantile of the standardised excess of
// the k-step window peak over the forecast peak, extrapolated by √(k/H)
// beyond the calibrated horizon H.
func (m *Model) peakExcessQuantile(k int, q float64) float64 {
	horizon := len(m.errQuantiles)
	switch {
	case horizon == 0:
		return 0
	case k == 1:
		return m.errorQuantile(1, q)
	case k <= horizon:
		return quantileSorted(m.peakQuantiles[k-2], q)
	}
	return m.peakExcessQuantile(horizon, q) * math.Sqrt(float64(k)/float64(horizon))
}
