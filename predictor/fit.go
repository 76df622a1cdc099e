package predictor

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// Options controls fitting. The zero value fits a non-seasonal model with a
// one-step interval; set Period for a seasonal one.
type Options struct {
	// Period is the primary season in steps (0 = none).
	Period int
	// Period2 is an optional second season in steps, a multiple of Period.
	Period2 int
	// Trends and Seasons are the candidate structures compared by AICc.
	// Defaults: {TrendNone, TrendDamped} and {SeasonAdditive,
	// SeasonMultiplicative} (SeasonNone without a period).
	Trends  []Trend
	Seasons []Seasonality
	// NoAR1 drops the AR(1) error adjustment from every candidate.
	NoAR1 bool
	// Horizon is the longest horizon, in steps, for which interval quantiles
	// are calibrated (default 1).
	Horizon int
	// Clip > 0 enables robust updating: one-step errors beyond Clip error
	// scales are clipped before they move the states (e.g. 5).
	Clip float64
	// Loss is the error measure minimised by the fit (default absolute).
	Loss Loss
	// LossHorizon > 1 fits the parameters to the squared LossHorizon-step
	// errors instead of the one-step errors.
	LossHorizon int
	// NoSeasonalScale keeps the interval scale the same at every phase of
	// the season. By default the running error scale is multiplied by a
	// per-phase volatility factor of the primary season, estimated from the
	// in-sample one-step errors (volatility.go), so that intervals and peak
	// quantiles widen at the times of day when bursts usually come. A
	// model without a season, or whose errors show no phase pattern that
	// holds across seasons, keeps a flat scale either way.
	NoSeasonalScale bool
	// MaxEvaluations bounds the objective evaluations per candidate
	// (default 150 per parameter).
	MaxEvaluations int
}

// ErrNoData is returned when a series has no usable observation.
var ErrNoData = errors.New("no finite observation")

// minObservations is the shortest series a model is fitted to.
const minObservations = 4

// Fit selects, by AICc, the best of the candidate models for y and returns it
// fitted, with its states at the end of y. y holds one value per step; NaN
// marks a missing value. Values must be finite and non-negative.
func Fit(y []float64, opts Options) (*Model, error) {
	observed, zeros, err := checkSeries(y)
	if err != nil {
		return nil, err
	}
	if opts.Horizon <= 0 {
		opts.Horizon = 1
	}
	specs, notes, err := candidates(len(y), zeros, opts)
	if err != nil {
		return nil, err
	}
	if observed < minObservations {
		return nil, fmt.Errorf("series has %d observations, need at least %d", observed, minObservations)
	}
	var best *Model
	// A trended model nests the model without trend (β → 0), so it starts
	// from that model's optimum: fewer evaluations, and never a worse fit
	// because the simplex wandered into a poorer local minimum.
	untrended := map[Spec]Params{}
	for _, spec := range specs {
		plain := spec
		plain.Trend = TrendNone
		var warm *Params
		if p, ok := untrended[plain]; ok && spec.hasTrend() {
			warm = &p
		}
		m := fitSpec(y, spec, opts, warm)
		if !spec.hasTrend() {
			untrended[spec] = m.Params
		}
		if best == nil || m.AICc < best.AICc {
			best = m
		}
	}
	best.Notes = append(notes, best.Notes...)
	best.calibrate(y, opts.Horizon, !opts.NoSeasonalScale)
	return best, nil
}

// FitSpec fits one model structure to y without model selection.
func FitSpec(y []float64, spec Spec, opts Options) (*Model, error) {
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("spec %s: %w", spec, err)
	}
	observed, _, err := checkSeries(y)
	if err != nil {
		return nil, err
	}
	if observed < minObservations {
		return nil, fmt.Errorf("series has %d observations, need at least %d", observed, minObservations)
	}
	if spec.Season != SeasonNone && len(y) < 2*max(spec.Period, spec.Period2) {
		return nil, fmt.Errorf("spec %s needs two full seasons (%d steps), series has %d", spec, 2*max(spec.Period, spec.Period2), len(y))
	}
	if opts.Horizon <= 0 {
		opts.Horizon = 1
	}
	m := fitSpec(y, spec, opts, nil)
	m.calibrate(y, opts.Horizon, !opts.NoSeasonalScale)
	return m, nil
}

// checkSeries validates the input and counts observed values and zeros.
func checkSeries(y []float64) (observed, zeros int, err error) {
	for i, v := range y {
		switch {
		case math.IsNaN(v):
			continue
		case math.IsInf(v, 0):
			return 0, 0, fmt.Errorf("y[%d] = %v is not finite", i, v)
		case v < 0:
			return 0, 0, fmt.Errorf("y[%d] = %v is negative", i, v)
		case v > MaxDemand:
			return 0, 0, fmt.Errorf("y[%d] = %v exceeds the largest demand a model accepts, %v", i, v, float32(MaxDemand))
		case v == 0:
			zeros++
		}
		observed++
	}
	if observed == 0 {
		return 0, 0, ErrNoData
	}
	return observed, zeros, nil
}

// candidates lists the model structures worth fitting to a series of n steps,
// with notes on the ones the data rule out.
func candidates(n, zeros int, opts Options) ([]Spec, []string, error) {
	if opts.Period < 0 || opts.Period == 1 {
		return nil, nil, fmt.Errorf("period %d must be 0 (none) or at least 2", opts.Period)
	}
	if opts.Period2 != 0 && (opts.Period == 0 || opts.Period2 <= opts.Period || opts.Period2%opts.Period != 0) {
		return nil, nil, fmt.Errorf("period2 %d must be a multiple of period %d and longer", opts.Period2, opts.Period)
	}
	var notes []string
	period, period2 := opts.Period, opts.Period2
	if period2 > 0 && n < 2*period2 {
		notes = append(notes, fmt.Sprintf("second season dropped: %d steps of history, need two seasons (%d)", n, 2*period2))
		period2 = 0
	}
	if period > 0 && n < 2*period {
		notes = append(notes, fmt.Sprintf("non-seasonal model: %d steps of history, need two seasons (%d)", n, 2*period))
		period = 0
	}
	trends := opts.Trends
	if len(trends) == 0 {
		trends = []Trend{TrendNone, TrendDamped}
	}
	seasons := opts.Seasons
	if len(seasons) == 0 {
		seasons = []Seasonality{SeasonAdditive, SeasonMultiplicative}
	}
	var specs []Spec
	for _, season := range seasons {
		if period == 0 {
			season = SeasonNone
		}
		if season == SeasonMultiplicative && zeros > 0 {
			notes = append(notes, fmt.Sprintf("multiplicative season skipped: %d zero values", zeros))
			continue
		}
		for _, trend := range trends {
			spec := Spec{Trend: trend, Season: season, AR1: !opts.NoAR1}
			if season != SeasonNone {
				spec.Period, spec.Period2 = period, period2
			}
			if err := spec.validate(); err != nil {
				return nil, nil, err
			}
			if !containsSpec(specs, spec) {
				specs = append(specs, spec)
			}
		}
	}
	if len(specs) == 0 {
		return nil, nil, errors.New("no candidate model fits the data")
	}
	return specs, notes, nil
}

func containsSpec(specs []Spec, s Spec) bool {
	for _, o := range specs {
		if o == s {
			return true
		}
	}
	return false
}

// fitSpec estimates the parameters of one structure and returns the model
// filtered to the end of y (without interval calibration).
func fitSpec(y []float64, spec Spec, opts Options, warm *Params) *Model {
	start := initialState(y, spec)
	obj := newObjective(y, spec, start, opts.Clip)
	obj.loss = opts.Loss
	if opts.LossHorizon > 1 {
		obj.ahead = opts.LossHorizon
		obj.ring = make([]float64, opts.LossHorizon+1)
	}
	x := obj.space.initial()
	maxEval := opts.MaxEvaluations
	if maxEval <= 0 {
		maxEval = 150 * len(x)
	}
	size := 0.5
	if warm != nil {
		x = obj.fitTrendFirst(obj.space.coords(*warm), maxEval/4)
		size = 0.1 // already near the optimum: a small simplex polishes
	}
	if len(x) > 0 {
		var converged bool
		x, converged = minimise(obj.value, x, maxEval/2, size)
		if !converged {
			// Nelder-Mead restarted at its own best point escapes a simplex
			// that collapsed before converging.
			x, _ = minimise(obj.value, x, maxEval/2, size)
		}
	}
	params := obj.space.params(x)
	st := start.clone()
	sse, used := st.run(spec, params, y, opts.Clip, LossSquared)
	m := &Model{
		Spec:         spec,
		Params:       params,
		SSE:          sse,
		Observations: used,
		Filled:       countNaN(y),
		OutageSteps:  len(y) - used - countNaN(y),
		Clip:         opts.Clip,
		st:           st,
	}
	m.AICc = criterion(opts.Loss, y, spec, start, params, opts.Clip, sse, used, obj.space.dim()+initialStateCount(spec))
	return m
}

// minimise runs one bounded Nelder-Mead search from x and returns the best
// point and whether the search converged (rather than ran out of evaluations).
func minimise(f func([]float64) float64, x []float64, maxEval int, simplexSize float64) ([]float64, bool) {
	problem := optimize.Problem{Func: f}
	settings := &optimize.Settings{
		FuncEvaluations: maxEval,
		// Stop when ten steps per parameter improved the objective by less
		// than one part in a million: tighter changes no forecast digit
		// that matters and costs 40 % more evaluations.
		Converger: &optimize.FunctionConverge{
			Relative:   1e-6,
			Iterations: 10 * len(x),
		},
	}
	res, err := optimize.Minimize(problem, x, settings, &optimize.NelderMead{SimplexSize: simplexSize})
	if err != nil || res == nil || res.X == nil {
		return x, false
	}
	return res.X, res.Status == optimize.FunctionConvergence
}

// objective is the mean squared adjusted one-step error as a function of the
// unconstrained optimiser coordinates.
type objective struct {
	y     []float64
	spec  Spec
	start state
	work  state
	clip  float64
	space paramSpace
	loss  Loss
	ahead int       // >1: fit to ahead-step errors
	ring  []float64 // scratch for runAhead
}

func newObjective(y []float64, spec Spec, start state, clip float64) *objective {
	return &objective{y: y, spec: spec, start: start, work: start.clone(), clip: clip, space: paramSpace{spec: spec}}
}

// fitTrendFirst moves only the trend coordinates (β and φ, indices 1 and 2)
// from x, the others held at the untrended optimum: a two-dimensional search
// that puts the joint polish that follows close to its end.
func (o *objective) fitTrendFirst(x []float64, maxEval int) []float64 {
	if o.spec.Trend != TrendDamped {
		return x
	}
	trial := slices.Clone(x)
	sub := func(z []float64) float64 {
		trial[1], trial[2] = z[0], z[1]
		return o.value(trial)
	}
	z, _ := minimise(sub, []float64{x[1], x[2]}, maxEval, 0.5)
	out := slices.Clone(x)
	out[1], out[2] = z[0], z[1]
	return out
}

func (o *objective) value(x []float64) float64 {
	o.work.copyFrom(&o.start)
	var sse float64
	var used int
	if o.ahead > 1 {
		sse, used = o.work.runAhead(o.spec, o.space.params(x), o.y, o.clip, o.loss, o.ahead, o.ring)
	} else {
		sse, used = o.work.run(o.spec, o.space.params(x), o.y, o.clip, o.loss)
	}
	v := sse / float64(max(used, 1))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return math.MaxFloat64
	}
	return v
}

// paramSpace maps unconstrained coordinates to bounded parameters through
// logistic functions, which encodes the constraints of the package comment:
// α ∈ (0,1), β = α·u (so β < α), γ = (1−α)·u (so γ < 1−α), φ ∈ [0.8, 0.98].
type paramSpace struct{ spec Spec }

func (s paramSpace) dim() int {
	d := 1 // alpha
	if s.spec.hasTrend() {
		d++
	}
	if s.spec.Trend == TrendDamped {
		d++
	}
	if s.spec.Season != SeasonNone {
		d++
		if s.spec.Period2 > 0 {
			d++
		}
	}
	if s.spec.AR1 {
		d++
	}
	return d
}

// initial is the starting point: α = 0.3, β = 0.1α, γ = γ₂ = 0.1(1−α),
// φ = 0.95, λ = 0.3 — middling values from which Nelder-Mead moves freely.
func (s paramSpace) initial() []float64 {
	x := []float64{logit(0.3)}
	if s.spec.hasTrend() {
		x = append(x, logit(0.1))
	}
	if s.spec.Trend == TrendDamped {
		x = append(x, logit((0.95-minPhi)/(maxPhi-minPhi)))
	}
	if s.spec.Season != SeasonNone {
		x = append(x, logit(0.1))
		if s.spec.Period2 > 0 {
			x = append(x, logit(0.1))
		}
	}
	if s.spec.AR1 {
		x = append(x, logit((0.3-minLambda)/(maxLambda-minLambda)))
	}
	return x
}

func (s paramSpace) params(x []float64) Params {
	var p Params
	i := 0
	next := func() float64 { v := sigmoid(x[i]); i++; return v }
	p.Alpha = bounded(next(), minSmoothing, 1-minSmoothing)
	if s.spec.hasTrend() {
		p.Beta = p.Alpha * bounded(next(), minSmoothing, 1)
		p.Phi = 1
	}
	if s.spec.Trend == TrendDamped {
		p.Phi = minPhi + (maxPhi-minPhi)*next()
	}
	if s.spec.Season != SeasonNone {
		p.Gamma = (1 - p.Alpha) * bounded(next(), minSmoothing, 1)
		if s.spec.Period2 > 0 {
			p.Gamma2 = (1 - p.Alpha) * bounded(next(), minSmoothing, 1)
		}
	}
	if s.spec.AR1 {
		p.Lambda = minLambda + (maxLambda-minLambda)*next()
	}
	return p
}

// coords is the inverse of params for a warm start: p's parameters, with a
// negligible trend (β = α/1000, φ = 0.95) when p comes from a model without
// one, so the start reproduces that model's fit.
func (s paramSpace) coords(p Params) []float64 {
	unit := func(v, lo, hi float64) float64 {
		return logit(math.Min(math.Max((v-lo)/(hi-lo), 1e-6), 1-1e-6))
	}
	x := []float64{unit(p.Alpha, minSmoothing, 1-minSmoothing)}
	if s.spec.hasTrend() {
		ratio := 0.001
		if p.Alpha > 0 && p.Beta > 0 {
			ratio = p.Beta / p.Alpha
		}
		x = append(x, unit(ratio, minSmoothing, 1))
	}
	if s.spec.Trend == TrendDamped {
		phi := p.Phi
		if phi < minPhi || phi > maxPhi {
			phi = 0.95
		}
		x = append(x, unit(phi, minPhi, maxPhi))
	}
	if s.spec.Season != SeasonNone {
		x = append(x, unit(p.Gamma/(1-p.Alpha), minSmoothing, 1))
		if s.spec.Period2 > 0 {
			x = append(x, unit(p.Gamma2/(1-p.Alpha), minSmoothing, 1))
		}
	}
	if s.spec.AR1 {
		x = append(x, unit(p.Lambda, minLambda, maxLambda))
	}
	return x
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func logit(p float64) float64   { return math.Log(p / (1 - p)) }
func bounded(v, lo, hi float64) float64 {
	return lo + (hi-lo)*v
}

// initialStateCount is the number of initial states, which AICc counts as
// estimated parameters (Hyndman et al. 2008, §2.7): level, trend, and all
// but one seasonal state per season (the normalisation fixes the last).
func initialStateCount(spec Spec) int {
	k := 1
	if spec.hasTrend() {
		k++
	}
	if spec.Season != SeasonNone {
		k += spec.Period - 1
		if spec.Period2 > 0 {
			k += spec.Period2 - 1
		}
	}
	return k
}

// Loss is the measure of one error that fitting minimises.
type Loss int

const (
	// LossAbsolute, the default, is the Laplace likelihood: the sum of
	// absolute errors. It targets the median, which is what MAE and MASE
	// reward, and is robust to the jumps of real demand.
	LossAbsolute Loss = iota
	// LossSquared is the Gaussian likelihood: the classical sum of squared errors.
	LossSquared
)

func (l Loss) of(e float64) float64 {
	if l == LossAbsolute {
		return math.Abs(e)
	}
	return e * e
}

// criterion is AICc under the likelihood that matches the loss: Gaussian for
// squared errors, Laplace for absolute errors (−2 log L = 2n·log(2·mean|e|) + 2n).
func criterion(loss Loss, y []float64, spec Spec, start state, params Params, clip, sse float64, used, k int) float64 {
	if loss != LossAbsolute {
		return aicc(sse, used, k)
	}
	st := start.clone()
	sae, n := st.run(spec, params, y, clip, LossAbsolute)
	k++
	if n-k-1 <= 0 || sae <= 0 {
		return math.Inf(1)
	}
	nf, kf := float64(n), float64(k)
	return 2*nf*math.Log(2*sae/nf) + 2*nf + 2*kf + 2*kf*(kf+1)/(nf-kf-1)
}

// aicc is the corrected Akaike criterion of a Gaussian additive-error model
// with n used observations and k estimated parameters (+1 for σ²):
// n·log(SSE/n) + 2(k+1) + 2(k+1)(k+2)/(n−k−2).
func aicc(sse float64, n, k int) float64 {
	k++ // the error variance
	if n-k-1 <= 0 || sse <= 0 {
		if sse <= 0 && n-k-1 > 0 {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	nf, kf := float64(n), float64(k)
	return nf*math.Log(sse/nf) + 2*kf + 2*kf*(kf+1)/(nf-kf-1)
}

func countNaN(y []float64) int {
	n := 0
	for _, v := range y {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}
