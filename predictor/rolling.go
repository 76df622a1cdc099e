package predictor

import (
	"errors"
	"fmt"
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
type Rolling struct {
	opts RollingOptions
	// history is the ring of the last Window steps, kept in float32: demand
	// needs no more than 7 significant digits, and a process with a thousand
	// 14-day, 1-minute histories keeps 80 MB instead of 160.
	history []float32
	next    int // ring position of the next step
	seen    int // steps observed in total
	model   *Model
	since   int // steps since the last fit
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
	return &Rolling{opts: opts, history: make([]float32, opts.Window)}, nil
}

// Observe feeds the next step (NaN = missing) and reports whether a model was
// fitted on this step. It returns an error only for a value no model accepts
// (negative or infinite), which is then recorded as missing.
func (r *Rolling) Observe(y float64) (fitted bool, err error) {
	if _, _, cerr := checkSeries([]float64{y}); cerr != nil && !errors.Is(cerr, ErrNoData) {
		err = fmt.Errorf("step %d: %w", r.seen, cerr)
		y = nan
	}
	r.history[r.next] = float32(y)
	r.next = (r.next + 1) % len(r.history)
	r.seen++
	r.since++
	switch {
	case r.model == nil && r.seen >= r.opts.Window, r.model != nil && r.since >= r.opts.RefitEvery:
		fitted = r.fit()
		if !fitted && r.model != nil {
			r.model.Update(y)
		}
	case r.model != nil:
		r.model.Update(y)
	}
	return fitted, err
}

var nan = func() float64 { var zero float64; return zero / zero }()

// History returns the last min(Seen, Window) steps observed, oldest first
// (a copy; missing steps are NaN).
func (r *Rolling) History() []float64 {
	n := min(r.seen, len(r.history))
	out := make([]float64, 0, n)
	for _, part := range [][]float32{r.history[r.next:], r.history[:r.next]} {
		for _, v := range part {
			out = append(out, float64(v))
		}
	}
	return out[len(out)-n:]
}

// fit fits on the trailing window and reports whether it succeeded.
func (r *Rolling) fit() bool {
	window := r.History()
	m, err := Fit(window, r.opts.Options)
	if err != nil {
		r.LastError = err
		if r.model != nil {
			// Try again at the next scheduled refit, not at every step.
			r.FailedRefits++
			r.since = 0
		}
		return false
	}
	r.since, r.LastError = 0, nil
	if r.model == nil && r.opts.FirstRefit > 0 {
		// Start the refit clock part-way, so the first refit comes after
		// FirstRefit steps rather than RefitEvery.
		r.since = r.opts.RefitEvery - r.opts.FirstRefit
	}
	r.model = m
	r.Fits++
	return true
}

// Model is the current model, positioned after the last observed step; nil
// until the first fit.
func (r *Rolling) Model() *Model { return r.model }

// Seen is the number of steps observed.
func (r *Rolling) Seen() int { return r.seen }
