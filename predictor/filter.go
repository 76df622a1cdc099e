package predictor

import "math"

// Tuning of the robustness rules. They are properties of request-count data,
// not of a particular trace.
const (
	// scaleSmoothing is the weight of the newest absolute error in the running
	// error scale: a memory of about 1/0.05 = 20 steps, short enough to follow
	// the day/night change of the noise level.
	scaleSmoothing = 0.05
	// anomalousZeroScales: a zero observed where the forecast exceeds this many
	// error scales is not plausible demand; it is a lost sample or an outage,
	// and it does not move the states.
	anomalousZeroScales = 4.0
	// outageEvidence: a run of zeros is an outage once the forecasts it
	// contradicts add up to this many error scales (two clearly anomalous
	// zeros, or a longer run of individually plausible ones). From then on
	// the forecast follows the zeros until traffic returns.
	outageEvidence = 8.0
	// maxZeroEvidence caps what one zero adds, so a zero error scale cannot
	// declare an outage on its own.
	maxZeroEvidence = 5.0
	// minSeasonalFactor keeps multiplicative updates finite when a factor
	// approaches zero.
	minSeasonalFactor = 1e-2
)

// state is the filter state after the observations seen so far.
type state struct {
	level   float64
	trend   float64
	season  []float64 // primary seasonal states, one per phase
	season2 []float64 // second seasonal states (nil for a single season)
	phase   int       // phase in season of the next observation
	phase2  int       // phase in season2 of the next observation
	lastErr float64   // unadjusted one-step error of the last observation (AR term)
	scale   float64   // running mean absolute adjusted one-step error
	zeros   zeroRun   // the current run of zeros
}

// zeroRun follows consecutive zero observations. Individually plausible zeros
// update the states as demand until the run proves to be an outage; then the
// level and trend are put back to where the run started, so that the outage
// leaves the profile intact. Only level and trend are saved (O(1)): the few
// seasonal states touched before the decision moved by γ·e, which is small.
type zeroRun struct {
	steps     int
	evidence  float64 // Σ forecast/scale over the run
	outage    bool
	fromLevel float64 // level and trend before the run
	fromTrend float64
}

// copyFrom makes s a deep copy of o, reusing s's slices.
func (s *state) copyFrom(o *state) {
	season, season2 := s.season, s.season2
	*s = *o
	s.season = append(season[:0], o.season...)
	if o.season2 != nil {
		s.season2 = append(season2[:0], o.season2...)
	} else {
		s.season2 = nil
	}
}

func (s *state) clone() state {
	var c state
	c.copyFrom(s)
	return c
}

// inOutage reports whether the recent observations are an outage.
func (s *state) inOutage() bool { return s.zeros.outage }

// seasonals returns the seasonal states for the phase ahead steps after the
// next one (ahead = 0 is the next observation), neutral values for absent
// seasons: 0 for additive, 1 for multiplicative.
func (s *state) seasonals(spec Spec, ahead int) (float64, float64) {
	neutral := 0.0
	if spec.Season == SeasonMultiplicative {
		neutral = 1
	}
	s1, s2 := neutral, neutral
	if spec.Season != SeasonNone {
		s1 = s.season[wrap(s.phase+ahead, len(s.season))]
		if s.season2 != nil {
			s2 = s.season2[wrap(s.phase2+ahead, len(s.season2))]
		}
	}
	return s1, s2
}

// wrap is i mod n for i ≥ 0, without a division in the common case i < n
// (the filter's hot path asks for the current phase at every step).
func wrap(i, n int) int {
	if i < n {
		return i
	}
	return i % n
}

// clamp limits v to [-limit, limit].
func clamp(v, limit float64) float64 {
	if v > limit {
		return limit
	}
	if v < -limit {
		return -limit
	}
	return v
}

// combine applies the seasonal states to the level part.
func combine(spec Spec, base, s1, s2 float64) float64 {
	switch spec.Season {
	case SeasonAdditive:
		return base + s1 + s2
	case SeasonMultiplicative:
		return base * s1 * s2
	}
	return base
}

// forecast returns the h-step (h ≥ 1) point forecast of the state, before the
// outage rule and the non-negativity clamp.
func (s *state) forecast(spec Spec, p Params, h int) float64 {
	return s.forecastWith(spec, dampedSum(p.Phi, h), math.Pow(p.Lambda, float64(h)), h)
}

// dampedSum is φ_h = φ + φ² + … + φ^h (h for φ = 1).
func dampedSum(phi float64, h int) float64 {
	if phi == 1 {
		return float64(h)
	}
	return phi * (1 - math.Pow(phi, float64(h))) / (1 - phi)
}

// observe feeds one observation y (NaN = missing) and returns the adjusted
// one-step error and whether the observation was used. clip > 0 limits the
// error fed to the states to ±clip error scales (robust updating).
func (s *state) observe(spec Spec, p Params, y, clip float64) (float64, bool) {
	base := s.level
	if spec.hasTrend() {
		base += p.Phi * s.trend
	}
	s1, s2 := s.seasonals(spec, 0)
	mu := combine(spec, base, s1, s2)
	ar := 0.0
	if spec.AR1 {
		ar = p.Lambda * s.lastErr
	}
	if math.IsNaN(y) {
		s.skip(spec, p)
		return 0, false
	}
	if y == 0 {
		if s.zeroIsOutage(spec, p, mu+ar) {
			s.skip(spec, p)
			return 0, false
		}
	} else if s.zeros.steps != 0 {
		s.zeros = zeroRun{}
	}
	e := y - mu   // the raw error corrects the states (Taylor 2003)
	adj := e - ar // the adjusted error is what the fit minimises
	if clip > 0 && s.scale > 0 {
		limit := clip * s.scale
		e = clamp(e, limit)
		adj = clamp(adj, limit)
	}
	s.correct(spec, p, base, s1, s2, e)
	s.lastErr = e
	s.scale += scaleSmoothing * (math.Abs(adj) - s.scale)
	s.advance()
	return y - mu - ar, true
}

// zeroIsOutage adds a zero observation to the current run and reports whether
// it must be kept out of the states: during an outage, or when the forecast
// made it implausible on its own.
func (s *state) zeroIsOutage(spec Spec, p Params, expected float64) bool {
	z := &s.zeros
	if z.outage {
		z.steps++
		return true
	}
	if z.steps == 0 {
		z.fromLevel, z.fromTrend = s.level, s.trend
	}
	z.steps++
	surprise := maxZeroEvidence
	if s.scale > 0 {
		surprise = math.Min(math.Max(expected, 0)/s.scale, maxZeroEvidence)
	}
	z.evidence += surprise
	if z.evidence >= outageEvidence && z.steps >= 2 {
		z.outage = true
		// Undo what the plausible zeros of the run did to level and trend:
		// evolve the saved states over the run as forecasts.
		s.level = z.fromLevel
		if spec.hasTrend() {
			s.level += dampedSum(p.Phi, z.steps-1) * z.fromTrend
			s.trend = math.Pow(p.Phi, float64(z.steps-1)) * z.fromTrend
		}
		return true
	}
	return expected > 0 && expected > anomalousZeroScales*s.scale
}

// skip moves the state one step without an observation: the states evolve as
// their forecast and the AR memory decays, so the next forecast equals the
// two-step forecast made before the gap.
func (s *state) skip(spec Spec, p Params) {
	if spec.hasTrend() {
		s.level += p.Phi * s.trend
		s.trend *= p.Phi
	}
	if spec.AR1 {
		s.lastErr *= p.Lambda
	}
	s.advance()
}

// correct applies the error-correction equations (package comment).
func (s *state) correct(spec Spec, p Params, base, s1, s2, e float64) {
	switch spec.Season {
	case SeasonMultiplicative:
		factor := math.Max(s1*s2, minSeasonalFactor)
		s.level = base + p.Alpha*e/factor
		if spec.hasTrend() {
			s.trend = p.Phi*s.trend + p.Beta*e/factor
		}
		if base > 0 {
			s.season[s.phase] = math.Max(s1+p.Gamma*e/(base*s2), minSeasonalFactor)
			if s.season2 != nil {
				s.season2[s.phase2] = math.Max(s2+p.Gamma2*e/(base*s1), minSeasonalFactor)
			}
		}
	default:
		s.level = base + p.Alpha*e
		if spec.hasTrend() {
			s.trend = p.Phi*s.trend + p.Beta*e
		}
		if spec.Season == SeasonAdditive {
			s.season[s.phase] = s1 + p.Gamma*e
			if s.season2 != nil {
				s.season2[s.phase2] = s2 + p.Gamma2*e
			}
		}
	}
}

func (s *state) advance() {
	if s.season != nil {
		s.phase++
		if s.phase == len(s.season) {
			s.phase = 0
		}
	}
	if s.season2 != nil {
		s.phase2++
		if s.phase2 == len(s.season2) {
			s.phase2 = 0
		}
	}
}

// run filters y from the state, returning the summed loss of the adjusted
// one-step errors and how many observations were used. It is the fitting
// objective's inner loop, so the ordinary step — a positive observation
// outside a run of zeros — is written out over local variables, which the
// compiler keeps in registers; every other observation goes through observe.
// TestRunMatchesObserve holds the two paths to the same result, bit for bit.
func (s *state) run(spec Spec, p Params, y []float64, clip float64, loss Loss) (total float64, used int) {
	level, trend, lastErr, scale := s.level, s.trend, s.lastErr, s.scale
	phase, phase2 := s.phase, s.phase2
	season, season2 := s.season, s.season2
	trended, ar1 := spec.hasTrend(), spec.AR1
	seasonal, mult := spec.Season != SeasonNone, spec.Season == SeasonMultiplicative
	neutral := neutralOf(spec)
	alpha, beta, gamma, gamma2, phi, lambda := p.Alpha, p.Beta, p.Gamma, p.Gamma2, p.Phi, p.Lambda
	absolute := loss == LossAbsolute
	for _, v := range y {
		if !(v > 0) || s.zeros.steps != 0 {
			s.level, s.trend, s.lastErr, s.scale, s.phase, s.phase2 = level, trend, lastErr, scale, phase, phase2
			if e, ok := s.observe(spec, p, v, clip); ok {
				total += loss.of(e)
				used++
			}
			level, trend, lastErr, scale, phase, phase2 = s.level, s.trend, s.lastErr, s.scale, s.phase, s.phase2
			continue
		}
		base := level
		if trended {
			base += phi * trend
		}
		s1, s2 := neutral, neutral
		if seasonal {
			s1 = season[phase]
			if season2 != nil {
				s2 = season2[phase2]
			}
		}
		var mu float64
		switch {
		case mult:
			mu = base * s1 * s2
		default:
			mu = base + s1 + s2
		}
		ar := 0.0
		if ar1 {
			ar = lambda * lastErr
		}
		e := v - mu
		adj := e - ar
		out := adj
		if clip > 0 && scale > 0 {
			limit := clip * scale
			e = clamp(e, limit)
			adj = clamp(adj, limit)
		}
		if mult {
			factor := math.Max(s1*s2, minSeasonalFactor)
			level = base + alpha*e/factor
			if trended {
				trend = phi*trend + beta*e/factor
			}
			if base > 0 {
				season[phase] = math.Max(s1+gamma*e/(base*s2), minSeasonalFactor)
				if season2 != nil {
					season2[phase2] = math.Max(s2+gamma2*e/(base*s1), minSeasonalFactor)
				}
			}
		} else {
			level = base + alpha*e
			if trended {
				trend = phi*trend + beta*e
			}
			if seasonal {
				season[phase] = s1 + gamma*e
				if season2 != nil {
					season2[phase2] = s2 + gamma2*e
				}
			}
		}
		lastErr = e
		scale += scaleSmoothing * (math.Abs(adj) - scale)
		if seasonal {
			if phase++; phase == len(season) {
				phase = 0
			}
			if season2 != nil {
				if phase2++; phase2 == len(season2) {
					phase2 = 0
				}
			}
		}
		if absolute {
			total += math.Abs(out)
		} else {
			total += out * out
		}
		used++
	}
	s.level, s.trend, s.lastErr, s.scale, s.phase, s.phase2 = level, trend, lastErr, scale, phase, phase2
	return total, used
}

// runAhead filters y from the state and returns the summed loss of the h-step
// errors (forecast made h steps before each observation) and their count.
// Origins in an outage and targets that are missing or outage zeros do not
// count. It costs one ring slot per step of h.
func (s *state) runAhead(spec Spec, p Params, y []float64, clip float64, loss Loss, h int, ring []float64) (total float64, used int) {
	for i := range ring {
		ring[i] = math.NaN()
	}
	phiH, lambdaH := dampedSum(p.Phi, h), math.Pow(p.Lambda, float64(h))
	for t, v := range y {
		slot := t % len(ring)
		pending := ring[slot]
		_, ok := s.observe(spec, p, v, clip)
		if ok && !math.IsNaN(pending) {
			total += loss.of(v - pending)
			used++
		}
		ring[slot] = math.NaN()
		if !s.inOutage() {
			ring[(t+h)%len(ring)] = math.Max(0, s.forecastWith(spec, phiH, lambdaH, h))
		}
	}
	return total, used
}

// forecastWith is forecast with φ_h and λ^h precomputed, for loops over many
// origins.
func (s *state) forecastWith(spec Spec, phiH, lambdaH float64, h int) float64 {
	base := s.level
	if spec.hasTrend() {
		base += phiH * s.trend
	}
	s1, s2 := s.seasonals(spec, h-1)
	mu := combine(spec, base, s1, s2)
	if spec.AR1 {
		mu += lambdaH * s.lastErr
	}
	return mu
}
