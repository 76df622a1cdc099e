package predictor

import (
	"fmt"
	"math"
)

// ErrorTracker scores a live forecaster the way its decisions use it: the
// forecast made h steps before each step against what that step turned out
// to be, over a sliding window of recent steps. The score is the weighted
// absolute percentage error
//
//	WAPE = Σ |y_t − ŷ_{t|t−h}| / Σ y_t
//
// which, unlike a mean of per-step percentages, stays finite at night when
// demand is near zero and weighs the busy hours, where a floor matters,
// most. A WAPE of 0.3 means the forecast missed by 30 % of the demand.
type ErrorTracker struct {
	horizon int
	// pending[i] is the forecast for the step i positions after the one
	// being observed next (a ring of horizon forecasts).
	pending []float64
	head    int
	// absErr and actual are rings of the window's scored steps; NaN marks a
	// step that could not be scored (no data, no forecast).
	absErr, actual []float64
	pos            int
	filled         int
}

// NewErrorTracker scores h-step forecasts over the last window steps.
func NewErrorTracker(horizon, window int) (*ErrorTracker, error) {
	if horizon < 1 || window < 1 {
		return nil, fmt.Errorf("error tracker: horizon %d and window %d must both be >= 1", horizon, window)
	}
	e := &ErrorTracker{horizon: horizon, pending: make([]float64, horizon),
		absErr: make([]float64, window), actual: make([]float64, window)}
	for i := range e.pending {
		e.pending[i] = math.NaN()
	}
	return e, nil
}

// Horizon is h, the forecast distance scored.
func (e *ErrorTracker) Horizon() int { return e.horizon }

// Observe scores the step just seen, whose value is actual (NaN when
// missing), against the forecast made h steps ago, then keeps ahead, the
// forecast made now for the step h steps later (NaN when there is no model).
func (e *ErrorTracker) Observe(actual, ahead float64) {
	forecast := e.pending[e.head]
	e.pending[e.head] = ahead
	e.head = (e.head + 1) % e.horizon

	abs, y := math.NaN(), math.NaN()
	if !math.IsNaN(actual) && !math.IsNaN(forecast) {
		abs, y = math.Abs(actual-forecast), actual
	}
	e.absErr[e.pos], e.actual[e.pos] = abs, y
	e.pos = (e.pos + 1) % len(e.absErr)
	e.filled = min(e.filled+1, len(e.absErr))
}

// WAPE returns the window's weighted absolute percentage error and the
// number of steps scored. With no demand at all in the window the error is
// 0 when the forecast said so too, +Inf otherwise.
func (e *ErrorTracker) WAPE() (wape float64, scored int) {
	var sumErr, sumY float64
	for i := range e.filled {
		if math.IsNaN(e.absErr[i]) {
			continue
		}
		sumErr += e.absErr[i]
		sumY += e.actual[i]
		scored++
	}
	switch {
	case scored == 0:
		return math.NaN(), 0
	case sumY > 0:
		return sumErr / sumY, scored
	case sumErr == 0:
		return 0, scored
	}
	return math.Inf(1), scored
}
