package predictor

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// A snapshot is a forecaster's whole state as plain exported values, so a
// process can save it and a later one continue from it: a Rolling restored
// from its snapshot and fed the same steps as the original gives the same
// forecasts, refits included (the ring, the counters, the plausibility
// limit and the refit phase are all in it). Snapshots carry no encoding of
// their own; the caller picks one and versions it.

// RollingSnapshot is the state of a Rolling (Rolling.Snapshot).
type RollingSnapshot struct {
	// History is the ring of the last Window steps and Next the position of
	// the next step in it.
	History []float32
	Next    int
	// Seen is the steps observed in total, Since the steps since the last
	// fit attempt that counted for the refit clock.
	Seen, Since int
	// Limit is the plausibility limit (+Inf before the first fit) and
	// Judged whether a fit has judged the history yet.
	Limit  float64
	Judged bool
	// Rejected counts the refused values by Rejection.
	Rejected []int
	// Fits and FailedRefits are the Rolling's counters; LastError the text
	// of the last fit error ("" when none).
	Fits, FailedRefits int
	LastError          string
	// Model is the model in hand (nil before the first fit).
	Model *ModelSnapshot
}

// ModelSnapshot is the state of a fitted Model.
type ModelSnapshot struct {
	Spec         Spec
	Params       Params
	AICc, SSE    float64
	Observations int
	Filled       int
	OutageSteps  int
	Notes        []string
	Clip         float64

	Level, Trend    float64
	Season, Season2 []float64
	Phase, Phase2   int
	LastErr, Scale  float64
	// ZeroSteps … ZeroFromTrend are the current run of zeros (zeroRun).
	ZeroSteps                    int
	ZeroEvidence                 float64
	ZeroOutage                   bool
	ZeroFromLevel, ZeroFromTrend float64

	ErrQuantiles  [][]float32
	PeakQuantiles [][]float32
	Volatility    []float32
}

// Snapshot returns the forecaster's state; it shares nothing with r.
func (r *Rolling) Snapshot() RollingSnapshot {
	s := RollingSnapshot{History: slices.Clone(r.history), Next: r.next, Seen: r.seen, Since: r.since,
		Limit: r.limit, Judged: r.judged, Rejected: slices.Clone(r.rejected[:]),
		Fits: r.Fits, FailedRefits: r.FailedRefits}
	if r.LastError != nil {
		s.LastError = r.LastError.Error()
	}
	if r.model != nil {
		s.Model = r.model.snapshot()
	}
	return s
}

// RestoreRolling returns a Rolling with opts in the state s. opts must be
// those of the Rolling the snapshot was taken from (the caller keeps them
// with it): a ring of another length, or a model whose season or
// calibration does not fit them, is refused. Values s holds are copied.
func RestoreRolling(opts RollingOptions, s RollingSnapshot) (*Rolling, error) {
	r, err := NewRolling(opts)
	if err != nil {
		return nil, err
	}
	switch {
	case len(s.History) != opts.Window:
		return nil, fmt.Errorf("snapshot: history of %d steps, the window is %d", len(s.History), opts.Window)
	case s.Next < 0 || s.Next >= opts.Window:
		return nil, fmt.Errorf("snapshot: ring position %d outside the window of %d", s.Next, opts.Window)
	case s.Seen < 0 || s.Since < 0 || s.Fits < 0 || s.FailedRefits < 0:
		return nil, errors.New("snapshot: negative counter")
	case s.Seen%opts.Window != s.Next:
		return nil, fmt.Errorf("snapshot: ring position %d does not follow %d steps seen", s.Next, s.Seen)
	case len(s.Rejected) != int(rejectionCount):
		return nil, fmt.Errorf("snapshot: %d rejection counters, want %d", len(s.Rejected), rejectionCount)
	case math.IsNaN(s.Limit):
		return nil, errors.New("snapshot: plausibility limit is NaN")
	case s.Model == nil && s.Seen >= opts.Window && s.Fits > 0:
		return nil, errors.New("snapshot: fits counted but no model")
	}
	copy(r.history, s.History)
	r.next, r.seen, r.since, r.limit, r.judged = s.Next, s.Seen, s.Since, s.Limit, s.Judged
	copy(r.rejected[:], s.Rejected)
	r.Fits, r.FailedRefits = s.Fits, s.FailedRefits
	if s.LastError != "" {
		r.LastError = errors.New(s.LastError)
	}
	if s.Model != nil {
		if r.model, err = restoreModel(*s.Model, opts.Options); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (m *Model) snapshot() *ModelSnapshot {
	z := m.st.zeros
	s := &ModelSnapshot{Spec: m.Spec, Params: m.Params, AICc: m.AICc, SSE: m.SSE, Observations: m.Observations,
		Filled: m.Filled, OutageSteps: m.OutageSteps, Notes: slices.Clone(m.Notes), Clip: m.Clip,
		Level: m.st.level, Trend: m.st.trend, Season: slices.Clone(m.st.season), Season2: slices.Clone(m.st.season2),
		Phase: m.st.phase, Phase2: m.st.phase2, LastErr: m.st.lastErr, Scale: m.st.scale,
		ZeroSteps: z.steps, ZeroEvidence: z.evidence, ZeroOutage: z.outage, ZeroFromLevel: z.fromLevel, ZeroFromTrend: z.fromTrend,
		Volatility: slices.Clone(m.volatility)}
	for _, q := range m.errQuantiles {
		s.ErrQuantiles = append(s.ErrQuantiles, slices.Clone(q))
	}
	for _, q := range m.peakQuantiles {
		s.PeakQuantiles = append(s.PeakQuantiles, slices.Clone(q))
	}
	return s
}

// restoreModel checks that the snapshot's states have the shapes its spec
// and the options give a fitted model, then rebuilds it.
func restoreModel(s ModelSnapshot, opts Options) (*Model, error) {
	if err := s.Params.validate(s.Spec); err != nil {
		return nil, fmt.Errorf("snapshot: model %s: %w", s.Spec, err)
	}
	season, season2 := 0, 0
	if s.Spec.Season != SeasonNone {
		season, season2 = s.Spec.Period, s.Spec.Period2
	}
	switch {
	case s.Spec.Period != 0 && s.Spec.Period != opts.Period, s.Spec.Period2 != 0 && s.Spec.Period2 != opts.Period2:
		return nil, fmt.Errorf("snapshot: model %s, the options' seasons are %d and %d steps", s.Spec, opts.Period, opts.Period2)
	case len(s.Season) != season || len(s.Season2) != season2:
		return nil, fmt.Errorf("snapshot: model %s with %d and %d seasonal states", s.Spec, len(s.Season), len(s.Season2))
	case s.Phase < 0 || (season > 0 && s.Phase >= season) || s.Phase2 < 0 || (season2 > 0 && s.Phase2 >= season2):
		return nil, fmt.Errorf("snapshot: seasonal phases %d and %d outside the seasons", s.Phase, s.Phase2)
	case len(s.ErrQuantiles) == 0 || len(s.ErrQuantiles) > max(opts.Horizon, 1):
		return nil, fmt.Errorf("snapshot: interval quantiles for %d steps, the options calibrate at most %d", len(s.ErrQuantiles), max(opts.Horizon, 1))
	case len(s.PeakQuantiles) != 0 && len(s.PeakQuantiles) != len(s.ErrQuantiles)-1:
		return nil, fmt.Errorf("snapshot: peak quantiles for %d windows and interval quantiles for %d steps", len(s.PeakQuantiles), len(s.ErrQuantiles))
	case s.Volatility != nil && len(s.Volatility) != s.Spec.Period:
		return nil, fmt.Errorf("snapshot: %d volatility factors for a season of %d steps", len(s.Volatility), s.Spec.Period)
	}
	m := &Model{Spec: s.Spec, Params: s.Params, AICc: s.AICc, SSE: s.SSE, Observations: s.Observations,
		Filled: s.Filled, OutageSteps: s.OutageSteps, Notes: slices.Clone(s.Notes), Clip: s.Clip,
		st: state{level: s.Level, trend: s.Trend, season: slices.Clone(s.Season), season2: slices.Clone(s.Season2),
			phase: s.Phase, phase2: s.Phase2, lastErr: s.LastErr, scale: s.Scale,
			zeros: zeroRun{steps: s.ZeroSteps, evidence: s.ZeroEvidence, outage: s.ZeroOutage,
				fromLevel: s.ZeroFromLevel, fromTrend: s.ZeroFromTrend}},
		volatility: slices.Clone(s.Volatility)}
	for _, q := range s.ErrQuantiles {
		m.errQuantiles = append(m.errQuantiles, slices.Clone(q))
	}
	for _, q := range s.PeakQuantiles {
		m.peakQuantiles = append(m.peakQuantiles, slices.Clone(q))
	}
	return m, nil
}

// ErrorTrackerSnapshot is the state of an ErrorTracker.
type ErrorTrackerSnapshot struct {
	Horizon        int
	Pending        []float64
	Head           int
	AbsErr, Actual []float64
	Pos, Filled    int
}

// Snapshot returns the tracker's state; it shares nothing with e.
func (e *ErrorTracker) Snapshot() ErrorTrackerSnapshot {
	return ErrorTrackerSnapshot{Horizon: e.horizon, Pending: slices.Clone(e.pending), Head: e.head,
		AbsErr: slices.Clone(e.absErr), Actual: slices.Clone(e.actual), Pos: e.pos, Filled: e.filled}
}

// RestoreErrorTracker returns a tracker of h-step forecasts over window
// steps in the state s, which must be of a tracker of the same sizes.
func RestoreErrorTracker(horizon, window int, s ErrorTrackerSnapshot) (*ErrorTracker, error) {
	e, err := NewErrorTracker(horizon, window)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Horizon != horizon || len(s.Pending) != horizon:
		return nil, fmt.Errorf("snapshot: error tracker of %d steps ahead, want %d", s.Horizon, horizon)
	case len(s.AbsErr) != window || len(s.Actual) != window:
		return nil, fmt.Errorf("snapshot: error window of %d steps, want %d", len(s.AbsErr), window)
	case s.Head < 0 || s.Head >= horizon || s.Pos < 0 || s.Pos >= window || s.Filled < 0 || s.Filled > window:
		return nil, errors.New("snapshot: error tracker position outside its rings")
	}
	copy(e.pending, s.Pending)
	copy(e.absErr, s.AbsErr)
	copy(e.actual, s.Actual)
	e.head, e.pos, e.filled = s.Head, s.Pos, s.Filled
	return e, nil
}
