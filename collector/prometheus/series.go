package prometheus

import (
	"fmt"
	"math"
	"time"
)

// Series is a regular time series on a step grid: Values[k] is the query
// evaluated at Start + k·Step. NaN marks a step with no value. It is the
// type the rest of prescaler sees; nothing of the Prometheus API leaks past it.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Len is the number of steps.
func (s Series) Len() int { return len(s.Values) }

// At returns the evaluation time of step k.
func (s Series) At(k int) time.Time { return s.Start.Add(time.Duration(k) * s.Step) }

// End returns the time just after the last step, Start + Len·Step: the
// first step of the series that continues this one.
func (s Series) End() time.Time { return s.At(s.Len()) }

// Missing counts the NaN steps.
func (s Series) Missing() int {
	n := 0
	for _, v := range s.Values {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}

// String summarises the series for logs and test failures.
func (s Series) String() string {
	if s.Len() == 0 {
		return fmt.Sprintf("empty series at %s step %s", s.Start.Format(time.RFC3339), s.Step)
	}
	return fmt.Sprintf("%d steps of %s from %s to %s (%d missing)",
		s.Len(), s.Step, s.Start.Format(time.RFC3339), s.At(s.Len()-1).Format(time.RFC3339), s.Missing())
}

// Sample is one value with the time it was evaluated at.
type Sample struct {
	Time  time.Time
	Value float64
}

// The step grid is counted in milliseconds since the Unix epoch, Prometheus'
// own resolution, so that grid points are the same instants whatever the
// window: a backfill and the incremental fetches that follow it line up.

// gridStep returns step in milliseconds, or an error when the step is not a
// positive whole number of milliseconds.
func gridStep(step time.Duration) (int64, error) {
	if step <= 0 || step%time.Millisecond != 0 {
		return 0, fmt.Errorf("step %s must be a positive whole number of milliseconds", step)
	}
	return step.Milliseconds(), nil
}

// gridCeil returns the first grid point at or after t, in milliseconds.
func gridCeil(t time.Time, stepMs int64) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) { // a sub-millisecond remainder rounds up
		ms++
	}
	return ceilDiv(ms, stepMs) * stepMs
}

// gridFloor returns the last grid point at or before t, in milliseconds.
func gridFloor(t time.Time, stepMs int64) int64 {
	ms := t.UnixMilli()
	if t.Before(time.UnixMilli(ms)) { // negative times truncate toward zero
		ms--
	}
	return floorDiv(ms, stepMs) * stepMs
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// GridFloor returns the last point of the step grid at or before t. The grid
// is anchored at the Unix epoch: its points are the multiples of step.
func GridFloor(t time.Time, step time.Duration) (time.Time, error) {
	ms, err := gridStep(step)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(gridFloor(t, ms)).UTC(), nil
}

// nanSeries returns n steps of NaN.
func nanSeries(start time.Time, step time.Duration, n int) Series {
	values := make([]float64, n)
	for i := range values {
		values[i] = math.NaN()
	}
	return Series{Start: start, Step: step, Values: values}
}
