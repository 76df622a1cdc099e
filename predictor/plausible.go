package predictor

import (
	"fmt"
	"math"
	"slices"
)

// MaxDemand is the largest demand a model accepts: the largest float32,
// since Rolling keeps its history in float32 (a larger value would be +Inf
// there). Squares of values this large stay finite in float64, so the fit's
// losses and scales do too.
const MaxDemand = math.MaxFloat32

// The plausibility rule of Rolling. A value is implausible when it exceeds
// implausibleMultiple times the referenceQuantile of the positive values of
// the fitting window.
//
// The 99th percentile is the demand of the busiest 1 % of the window: a
// handful of bad samples cannot move it (it is the rank-based quantile, so
// it also ignores the single largest value of a short window), while a new
// level of demand that lasts more than 1 % of the window (3.4 hours of a
// 14-day window) becomes the reference at the next fit and is accepted from
// then on, exactly as a restart reading that history would accept it.
//
// The multiple leaves real bursts alone: on the NASA, ServeGen and Twitter
// traces no step exceeds 3 times the 99th percentile of the day or the week
// before it, so a burst 10 to 20 times the typical demand is still far
// below 100 times the busiest percent. A broken query is not: 1e11 requests
// where the window peaks at a few hundred is a quarter of a billion times
// the reference.
const (
	referenceQuantile   = 0.99
	implausibleMultiple = 100
	// minReferenceValues is the fewest positive values a reference is taken
	// from; with fewer the window cannot tell a burst from a fault.
	minReferenceValues = minObservations
)

// Rejection is why Rolling refused a value.
type Rejection int

const (
	// RejectNotFinite is ±Inf, or a value beyond MaxDemand.
	RejectNotFinite Rejection = iota
	// RejectNegative is a negative value.
	RejectNegative
	// RejectImplausible is a value beyond implausibleMultiple times the
	// 99th percentile of the positive demand of the fitting window.
	RejectImplausible
	rejectionCount
)

// Rejections lists every reason, for callers that report each one.
var Rejections = []Rejection{RejectNotFinite, RejectNegative, RejectImplausible}

func (r Rejection) String() string {
	switch r {
	case RejectNotFinite:
		return "not_finite"
	case RejectNegative:
		return "negative"
	case RejectImplausible:
		return "implausible"
	}
	return fmt.Sprintf("Rejection(%d)", int(r))
}

// RejectedError is a value Rolling refused and recorded as missing.
type RejectedError struct {
	// Step is the step's index among all the steps observed.
	Step   int
	Value  float64
	Reason Rejection
	// Limit is the largest plausible value when it was judged
	// (RejectImplausible only).
	Limit float64
}

func (e *RejectedError) Error() string {
	switch e.Reason {
	case RejectNotFinite:
		return fmt.Sprintf("step %d: demand %v is not a finite number up to %v", e.Step, e.Value, float32(MaxDemand))
	case RejectNegative:
		return fmt.Sprintf("step %d: demand %v is negative", e.Step, e.Value)
	}
	return fmt.Sprintf("step %d: demand %v is implausible: more than %d times the 99th percentile of the fitting window (limit %.4g)",
		e.Step, e.Value, implausibleMultiple, e.Limit)
}

// judge returns why y cannot be used as demand given the plausible limit,
// or ok for a usable value or a missing one (NaN).
func judge(y, limit float64) (reason Rejection, ok bool) {
	switch {
	case math.IsNaN(y):
		return 0, true
	case math.IsInf(y, 0) || y > MaxDemand:
		return RejectNotFinite, false
	case y < 0:
		return RejectNegative, false
	case y > limit:
		return RejectImplausible, false
	}
	return 0, true
}

// plausibleLimit is the largest value the window makes plausible:
// implausibleMultiple times the rank-based referenceQuantile of its positive
// values (+Inf when it has fewer than minReferenceValues of them).
func plausibleLimit(window []float64) float64 {
	var positive []float64
	for _, v := range window {
		if v > 0 { // NaN compares false
			positive = append(positive, v)
		}
	}
	if len(positive) < minReferenceValues {
		return math.Inf(1)
	}
	slices.Sort(positive)
	// The lower order statistic of the quantile, not an interpolation: with
	// fewer than a hundred values it is the second largest, never the
	// largest, so one bad sample cannot make itself plausible.
	reference := positive[int(referenceQuantile*float64(len(positive)-1))]
	return implausibleMultiple * reference
}
