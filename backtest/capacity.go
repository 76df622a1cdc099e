package backtest

import (
	"math"
	"slices"
)

// outlierFactor: a minute more than this many times the sustained peak is
// a recording fault, not demand to size replicas for.
const outlierFactor = 2

// SizingPeak is the peak minute a derived capacity is sized from: the
// largest minute no more than twice the sustained peak, the largest median
// of three consecutive minutes. Ignored counts the minutes above that
// cutoff.
//
// The plain maximum trusts one minute, and one corrupted row (1e11 requests
// in a trace of a few hundred) would size every replica for it. A running
// median of three (Tukey's smoother) cannot be moved by an isolated minute,
// while a real peak lasting two minutes or more keeps its height; real
// single-minute bursts rise above it by far less than twice (NASA's peak
// minute of 405 requests stands above a sustained 330, ServeGen's and
// Twitter's by 0 % and 4 %), so on real traces the result is the maximum,
// unchanged. Windows with a missing minute take the lower of their two
// values. Without any window to judge by (fewer than two minutes in every
// window of three, or a sustained peak of zero) it is the maximum.
func SizingPeak(minutes []float64) (peak float64, ignored int) {
	cutoff := math.Inf(1)
	if sustained := sustainedPeak(minutes); sustained > 0 {
		cutoff = outlierFactor * sustained
	}
	for _, v := range minutes {
		switch {
		case v > cutoff:
			ignored++
		case v > peak: // NaN (a missing minute) compares false
			peak = v
		}
	}
	return peak, ignored
}

// sustainedPeak is the largest lower median of three consecutive minutes,
// over the windows with at least two minutes present (0 when none).
func sustainedPeak(minutes []float64) float64 {
	peak := 0.0
	window := make([]float64, 0, 3)
	for i := 0; i+3 <= len(minutes); i++ {
		window = window[:0]
		for _, v := range minutes[i : i+3] {
			if !math.IsNaN(v) {
				window = append(window, v)
			}
		}
		if len(window) < 2 {
			continue
		}
		slices.Sort(window)
		peak = max(peak, window[(len(window)-1)/2])
	}
	return peak
}
