package predictor

import (
	"fmt"
	"math"
)

// RollingOptions configures a Rolling forecaster.
type RollingOptions struct {
	Options
	// Window is the history, in steps, a model is fitted on: the first fit
	// happens once Window steps were observed, and every refit uses the
	// trailing Window steps.
	Window int
	// RefitEvery is the number of steps between refits; in between, every
	// step is an O(1) update.
	RefitEvery int
	// FirstRefit, if in [1, RefitEvery], is the number of steps between the
	// first fit and the first refit. A process with many forecasters gives
	// them different phases so their refits do not all land in one loop.
	FirstRefit int
}

// Rolling is a forecaster fed one step at a time: it fits once enough history
// is in, updates in O(1) per step and refits on a schedule on the trailing
// window. It is what a long-running process holds per target. A refit that
// fails keeps the model in hand. Not safe for concurrent use.
//
// Values no model can use are refused and recorded as missing: ±Inf, values
// beyond MaxDemand, negative values, and implausible ones (plausible.go): a
// value more than 100 times the 99th percentile of the positive demand of
// the last fit's window. Each fit judges its whole window again, and leaves
// the implausible values out of the fit, so a fault in the history read
// before the first fit never reaches the initial states either.
type Rolling struct {
	opts RollingOptions
	// history is the ring of the last Window steps, kept in float32: demand
	// needs no more than 7 significant digits, and a process with a thousand
	// 14-day, 1-minute histories keeps 80 MB instead of 160. Implausible
	// values are kept as they came (the next fit judges them again, so a
	// new level of demand that persists is accepted); values beyond
	// float32's range are kept as missing.
	history []float32
	next    int // ring position of the next step
	seen    int // steps observed in total
	model   *Model
	since   int // steps since the last fit
	// limit is the largest plausible value, set by every fit attempt
	// (+Inf until the first: the history before it is judged by that fit,
	// judged is set once it was).
	limit  float64
	judged bool
	// rejected counts the values refused, by reason.
	rejected [rejectionCount]int
	// Fits counts successful fits; FailedRefits the refits that kept the
	// previous model, LastError why the last one failed.
	Fits         int
	FailedRefits int
	LastError    error
}

// NewRolling validates the options and returns an empty forecaster.
func NewRolling(opts RollingOptions) (*Rolling, error) {
	if opts.Window < minObservations {
		return nil, fmt.Errorf("window %d steps is shorter than the %d a fit needs", opts.Window, minObservations)
	}
	if opts.RefitEvery < 1 {
		return nil, fmt.Errorf("refit period %d steps must be at least 1", opts.RefitEvery)
	}
	if opts.FirstRefit < 0 || opts.FirstRefit > opts.RefitEvery {
		return nil, fmt.Errorf("first refit after %d steps must be in [1, %d]", opts.FirstRefit, opts.RefitEvery)
	}
	if _, _, err := candidates(opts.Window, 0, opts.Options); err != nil {
		return nil, err
	}
	return &Rolling{opts: opts, history: make([]float32, opts.Window), limit: math.Inf(1)}, nil
}

// Observe feeds the next step (NaN = missing) and reports whether a model was
// fitted on this step. A value no model accepts (see Rolling) is recorded as
// missing and returned as a *RejectedError; it never moves the model.
func (r *Rolling) Observe(y float64) (fitted bool, err error) {
	step := r.seen
	use, stored := y, float32(y)
	if reason, ok := judge(y, r.limit); !ok {
		err = r.reject(step, y, reason)
		use = nan
		if reason != RejectImplausible {
			stored = float32(nan)
		}
	}
	r.history[r.next] = stored
	r.next = (r.next + 1) % len(r.history)
	r.seen++
	r.since++
	switch {
	case r.model == nil && r.seen >= r.opts.Window, r.model != nil && r.since >= r.opts.RefitEvery:
		var newestLeftOut bool
		fitted, newestLeftOut = r.fit()
		if newestLeftOut && err == nil {
			err = r.reject(step, y, RejectImplausible)
		}
		if !fitted && r.model != nil {
			r.model.Update(use)
		}
	case r.model != nil:
		r.model.Update(use)
	}
	return fitted, err
}

var nan = func() float64 { var zero float64; return zero / zero }()

// reject counts a refused value and describes it.
func (r *Rolling) reject(step int, y float64, reason Rejection) error {
	r.rejected[reason]++
	return &RejectedError{Step: step, Value: y, Reason: reason, Limit: r.limit}
}

// Rejected is the number of values refused for reason so far.
func (r *Rolling) Rejected(reason Rejection) int {
	if reason < 0 || reason >= rejectionCount {
		return 0
	}
	return r.rejected[reason]
}

// PlausibleLimit is the largest value Observe accepts now (+Inf before the
// first fit).
func (r *Rolling) PlausibleLimit() float64 { return r.limit }

// leaveOutAbove replaces the values above limit by NaN and counts them.
func leaveOutAbove(window []float64, limit float64) int {
	n := 0
	for i, v := range window {
		if v > limit {
			window[i] = nan
			n++
		}
	}
	return n
}

// History returns the last min(Seen, Window) steps observed, oldest first,
// as the forecaster uses them: a copy, with the missing and refused steps
// NaN (judged by the current PlausibleLimit).
func (r *Rolling) History() []float64 {
	h := r.rawHistory()
	leaveOutAbove(h, r.limit)
	return h
}

// rawHistory is History with implausible values as they came.
func (r *Rolling) rawHistory() []float64 {
	n := min(r.seen, len(r.history))
	out := make([]float64, 0, n)
	for _, part := range [][]float32{r.history[r.next:], r.history[:r.next]} {
		for _, v := range part {
			out = append(out, float64(v))
		}
	}
	return out[len(out)-n:]
}

// fit judges the trailing window, fits on its plausible values and reports
// whether it succeeded and whether the newest value was left out as
// implausible.
func (r *Rolling) fit() (fitted, newestLeftOut bool) {
	window := r.rawHistory()
	newest := window[len(window)-1]
	r.limit = plausibleLimit(window)
	leftOut := leaveOutAbove(window, r.limit)
	newestLeftOut = newest > r.limit
	if !r.judged {
		// The values observed before the first judgement are counted here;
		// later ones are judged, and counted, as they come (the newest by
		// Observe).
		r.judged = true
		if newestLeftOut {
			leftOut--
		}
		r.rejected[RejectImplausible] += leftOut
	}
	m, err := Fit(window, r.opts.Options)
	if err != nil {
		r.LastError = err
		if r.model != nil {
			// Try again at the next scheduled refit, not at every step.
			r.FailedRefits++
			r.since = 0
		}
		return false, newestLeftOut
	}
	r.since, r.LastError = 0, nil
	if r.model == nil && r.opts.FirstRefit > 0 {
		// Start the refit clock part-way, so the first refit comes after
		// FirstRefit steps rather than RefitEvery.
		r.since = r.opts.RefitEvery - r.opts.FirstRefit
	}
	r.model = m
	r.Fits++
	return true, newestLeftOut
}

// Model is the current model, positioned after the last observed step; nil
// until the first fit.
func (r *Rolling) Model() *Model { return r.model }

// Seen is the number of steps observed.
func (r *Rolling) Seen() int { return r.seen }
