package predictor

import "math"

// Accuracy accumulates the error measures used to judge forecasts: MAE, MASE
// (Hyndman & Koehler 2006) and the coverage of a prediction interval.
type Accuracy struct {
	// Scale is the in-sample MAE of the one-season-ago naive forecast on the
	// training data; MASE = MAE / Scale.
	Scale     float64
	n, inside int
	absErr    float64
	naiveN    int
	naiveErr  float64
}

// SeasonalNaiveScale is the mean absolute difference y[t] − y[t−period] over
// the training data (lag 1 without a period), the MASE denominator. Missing
// values are skipped; NaN when no pair is complete.
func SeasonalNaiveScale(train []float64, period int) float64 {
	lag := max(period, 1)
	sum, n := 0.0, 0
	for t := lag; t < len(train); t++ {
		if d := train[t] - train[t-lag]; !math.IsNaN(d) {
			sum += math.Abs(d)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// Add records one forecast of an observed value, with its interval and the
// seasonal naive forecast of the same value for comparison. Missing actuals
// are ignored.
func (a *Accuracy) Add(actual float64, fc Forecast, naive float64) {
	if math.IsNaN(actual) {
		return
	}
	a.n++
	a.absErr += math.Abs(actual - fc.Mean)
	if !math.IsNaN(naive) {
		a.naiveErr += math.Abs(actual - naive)
		a.naiveN++
	}
	if fc.Lower <= actual && actual <= fc.Upper {
		a.inside++
	}
}

// Count is the number of forecasts scored.
func (a *Accuracy) Count() int { return a.n }

// MASE of the forecasts.
func (a *Accuracy) MASE() float64 { return a.absErr / float64(a.n) / a.Scale }

// NaiveMASE is the MASE of the seasonal naive forecasts of the same values
// (those with a naive forecast: its source value may be missing).
func (a *Accuracy) NaiveMASE() float64 { return a.naiveErr / float64(a.naiveN) / a.Scale }

// Coverage is the share of actual values inside their interval.
func (a *Accuracy) Coverage() float64 { return float64(a.inside) / float64(a.n) }
