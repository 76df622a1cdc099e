package predictor

import "math"

// Seasonal volatility. The running error scale follows the noise level with
// a memory of about 20 steps, so it learns that a burst happened only after
// it has started. When bursts come back at the same times of day, the phase
// of the season says in advance where the noise is: the interval scale at a
// target in phase p is scale_t · v(p), with v estimated as follows.
//
//  1. r_t = |y_t − ŷ_{t|t−1}| / scale_{t−1}, the in-sample one-step errors
//     in units of the scale that sized their interval.
//  2. θ(p) = the mean of r over the steps of phase p and its neighbours
//     within ±w phases, pooled across all seasons of the training data
//     (a mean absolute error, the same measure as the running scale).
//  3. w is chosen by two-fold cross-validation over the seasons, as the
//     profile smoothing is (initial.go): θ estimated on the even seasons
//     scores the odd ones and vice versa, under the Laplace scale
//     log-likelihood −log θ − r/θ (Laplace: the distribution whose scale
//     is the mean absolute error). The flat profile θ(p) = const competes
//     too; when it wins, the phase says nothing that holds across days and
//     the model keeps no factors (v ≡ 1).
//  4. f(p) = θ(p) / mean θ (mean 1), then shrunk towards 1 with the weight
//     of the data, v(p) = 1 + c/(c+κ)·(f(p) − 1), c the number of seasons
//     of ratios and κ = volatilityPriorSeasons: a James–Stein-like prior
//     worth κ seasons of a flat profile. v keeps mean 1 and v ≥ κ/(c+κ) > 0.
//
// The calibration (calibrate.go) divides every h-step error by scale_t ·
// v(phase of t+h), so the empirical quantiles stay calibrated marginally and
// the interval moves its width to the volatile phases.
//
// A scale factor matches the volatile phases' mean absolute error, not their
// tail: at a phase where bursts come on a minority of days the errors are
// bimodal (burst or nothing) and a 0.9-quantile there stays below the bursts
// (TestSeasonalScaleMovesHeadroomToOccasionalBursts). Matching the per-phase
// 0.9-quantile of r instead (pinball-loss cross-validation) covered them and
// improved the Twitter benchmark further, but cost 4–5 % of interval score
// on ServeGen, so the mean it is.

// volatilityPriorSeasons is κ, the weight of the flat profile in seasons of
// data: with 7 days of training the daily profile keeps 7/9 of its shape,
// with 2 days one half.
const volatilityPriorSeasons = 2.0

// volatilitySmoothingFractions are the candidate half-widths w, as fractions
// of the season (for a daily season: 0, 5, 10, 15, 30, 60 and 120 minutes).
var volatilitySmoothingFractions = []float64{0, 1.0 / 288, 1.0 / 144, 1.0 / 96, 1.0 / 48, 1.0 / 24, 1.0 / 12}

// seasonalVolatility returns v(p) for p = 0…period−1, or nil when the data
// cannot support one (fewer than two seasons, no error at all) or the flat
// profile cross-validates better. ratios[t] is r_t (NaN where none); phase0
// is the phase of step 0.
func seasonalVolatility(ratios []float64, period, phase0 int) []float32 {
	all := totalsByPhase(ratios, period, phase0, anyCycle)
	if all.seasons() < 2 || all.mean() == 0 {
		return nil
	}
	half, phased := volatilitySmoothing(ratios, period, phase0)
	if !phased {
		return nil
	}
	theta := all.smoothed(half)
	level := mean(theta)
	weight := all.seasons() / (all.seasons() + volatilityPriorSeasons)
	v := make([]float32, period)
	for p, x := range theta {
		v[p] = float32(1 + weight*(x/level-1))
	}
	return v
}

// volatilitySmoothing picks the half-width w by two-fold cross-validation
// over the seasons and reports whether any phase profile beat the flat one.
func volatilitySmoothing(ratios []float64, period, phase0 int) (half int, phased bool) {
	even := totalsByPhase(ratios, period, phase0, evenCycles)
	odd := totalsByPhase(ratios, period, phase0, oddCycles)
	if even.mean() == 0 || odd.mean() == 0 {
		return 0, false // a fold without errors has no scale to compare
	}
	flat := func(t phaseTotals) []float64 {
		out := make([]float64, period)
		for p := range out {
			out[p] = t.mean()
		}
		return out
	}
	best := crossLoss(ratios, period, phase0, flat(even), flat(odd))
	for _, frac := range volatilitySmoothingFractions {
		w := int(math.Round(frac * float64(period)))
		if (w > 0 && 2*w+1 > period) || (frac > 0 && w == 0) {
			continue
		}
		loss := crossLoss(ratios, period, phase0, even.smoothed(w), odd.smoothed(w))
		if loss < best*(1-1e-9) {
			best, half, phased = loss, w, true
		}
	}
	return half, phased
}

// crossLoss is the Laplace scale negative log-likelihood, Σ log θ + r/θ, of
// each ratio under the profile estimated from the other fold of seasons.
func crossLoss(ratios []float64, period, phase0 int, fromEven, fromOdd []float64) float64 {
	sum := 0.0
	for t, r := range ratios {
		if math.IsNaN(r) {
			continue
		}
		p, cycle := (phase0+t)%period, (phase0+t)/period
		theta := fromOdd[p]
		if cycle%2 == 1 {
			theta = fromEven[p]
		}
		sum += math.Log(theta) + r/theta
	}
	return sum
}

// Cycle selectors for totalsByPhase.
func anyCycle(int) bool     { return true }
func evenCycles(c int) bool { return c%2 == 0 }
func oddCycles(c int) bool  { return c%2 == 1 }

// phaseTotals holds, per phase, the sum and count of the ratios.
type phaseTotals struct {
	sum, count []float64
	total      float64
	n          int
	period     int
}

// totalsByPhase sums the ratios of the selected cycles by phase.
func totalsByPhase(ratios []float64, period, phase0 int, keep func(cycle int) bool) phaseTotals {
	t := phaseTotals{sum: make([]float64, period), count: make([]float64, period), period: period}
	for i, r := range ratios {
		if math.IsNaN(r) || !keep((phase0+i)/period) {
			continue
		}
		p := (phase0 + i) % period
		t.sum[p] += r
		t.count[p]++
		t.total += r
		t.n++
	}
	return t
}

func (t phaseTotals) mean() float64 {
	if t.n == 0 {
		return 0
	}
	return t.total / float64(t.n)
}

// seasons is the number of seasons' worth of ratios.
func (t phaseTotals) seasons() float64 { return float64(t.n) / float64(t.period) }

// smoothed returns θ(p): the pooled mean of the ratios within ±half phases
// of p (circular). A window without data gets the overall mean; θ is kept
// above a millionth of it so that log θ and r/θ stay finite.
func (t phaseTotals) smoothed(half int) []float64 {
	n := t.period
	out := make([]float64, n)
	floor := 1e-6 * t.mean()
	sum, count := 0.0, 0.0
	for i := -half; i <= half; i++ {
		j := ((i % n) + n) % n
		sum += t.sum[j]
		count += t.count[j]
	}
	for p := range out {
		out[p] = t.mean()
		if count > 0 {
			out[p] = math.Max(sum/count, floor)
		}
		in, off := (p+half+1)%n, ((p-half)%n+n)%n
		sum += t.sum[in] - t.sum[off]
		count += t.count[in] - t.count[off]
	}
	return out
}
