package predictor

import (
	"fmt"
	"math"
)

// Trend is the trend component of a model.
type Trend int

const (
	// TrendNone has no trend state (b ≡ 0).
	TrendNone Trend = iota
	// TrendAdditive is Holt's linear trend (φ = 1).
	TrendAdditive
	// TrendDamped is the additive damped trend (0.8 ≤ φ ≤ 0.98).
	TrendDamped
)

func (t Trend) String() string {
	switch t {
	case TrendNone:
		return "N"
	case TrendAdditive:
		return "A"
	case TrendDamped:
		return "Ad"
	}
	return fmt.Sprintf("Trend(%d)", int(t))
}

// Seasonality is the seasonal component of a model.
type Seasonality int

const (
	// SeasonNone has no seasonal state.
	SeasonNone Seasonality = iota
	// SeasonAdditive adds seasonal offsets to the level.
	SeasonAdditive
	// SeasonMultiplicative scales the level by seasonal factors.
	SeasonMultiplicative
)

func (s Seasonality) String() string {
	switch s {
	case SeasonNone:
		return "N"
	case SeasonAdditive:
		return "A"
	case SeasonMultiplicative:
		return "M"
	}
	return fmt.Sprintf("Seasonality(%d)", int(s))
}

// Spec is the structure of a model, fixed before fitting.
type Spec struct {
	Trend  Trend
	Season Seasonality
	// Period is the primary season length in steps (e.g. 288 for a day of
	// 5-minute steps). Zero when Season is SeasonNone.
	Period int
	// Period2 is an optional second, longer season (e.g. a week) in steps; a
	// whole multiple of Period. Zero for a single season.
	Period2 int
	// AR1 adds Taylor's first-order autoregressive error adjustment.
	AR1 bool
}

// String is the ETS-style name, e.g. "ETS(A,Ad,A)[288,2016]+AR1".
func (s Spec) String() string {
	name := fmt.Sprintf("ETS(A,%s,%s)", s.Trend, s.Season)
	switch {
	case s.Season != SeasonNone && s.Period2 > 0:
		name += fmt.Sprintf("[%d,%d]", s.Period, s.Period2)
	case s.Season != SeasonNone:
		name += fmt.Sprintf("[%d]", s.Period)
	}
	if s.AR1 {
		name += "+AR1"
	}
	return name
}

func (s Spec) validate() error {
	if s.Trend < TrendNone || s.Trend > TrendDamped {
		return fmt.Errorf("trend %d is not one of none, additive, damped", int(s.Trend))
	}
	if s.Season < SeasonNone || s.Season > SeasonMultiplicative {
		return fmt.Errorf("seasonality %d is not one of none, additive, multiplicative", int(s.Season))
	}
	if s.Season == SeasonNone {
		if s.Period2 != 0 {
			return fmt.Errorf("period2 %d needs a seasonal model", s.Period2)
		}
		return nil
	}
	if s.Period < 2 {
		return fmt.Errorf("period %d must be at least 2 steps", s.Period)
	}
	if s.Period2 != 0 && (s.Period2 <= s.Period || s.Period2%s.Period != 0) {
		return fmt.Errorf("period2 %d must be a multiple of period %d and longer", s.Period2, s.Period)
	}
	return nil
}

// hasTrend reports whether the model carries a trend state.
func (s Spec) hasTrend() bool { return s.Trend != TrendNone }

// Params are the smoothing parameters of a fitted model.
type Params struct {
	Alpha  float64 // level
	Beta   float64 // trend (0 without trend)
	Gamma  float64 // primary season (0 without season)
	Gamma2 float64 // second season (0 without one)
	Phi    float64 // damping (1 for an undamped trend, 0 without trend)
	Lambda float64 // AR(1) error adjustment (0 without it)
}

func (p Params) String() string {
	return fmt.Sprintf("alpha=%.4g beta=%.4g gamma=%.4g gamma2=%.4g phi=%.4g lambda=%.4g",
		p.Alpha, p.Beta, p.Gamma, p.Gamma2, p.Phi, p.Lambda)
}

// validate checks that hand-set parameters are usable for spec.
func (p Params) validate(spec Spec) error {
	check := func(name string, v, lo, hi float64) error {
		if math.IsNaN(v) || v < lo || v > hi {
			return fmt.Errorf("%s %v must be in [%v, %v]", name, v, lo, hi)
		}
		return nil
	}
	if err := check("alpha", p.Alpha, 0, 1); err != nil {
		return err
	}
	if spec.hasTrend() {
		if err := check("beta", p.Beta, 0, 1); err != nil {
			return err
		}
		if err := check("phi", p.Phi, 0, 1); err != nil {
			return err
		}
	}
	if spec.Season != SeasonNone {
		if err := check("gamma", p.Gamma, 0, 1); err != nil {
			return err
		}
		if spec.Period2 > 0 {
			if err := check("gamma2", p.Gamma2, 0, 1); err != nil {
				return err
			}
		}
	}
	if spec.AR1 {
		return check("lambda", p.Lambda, -1, 1)
	}
	return nil
}

// parameter bounds used by the optimiser; see the package comment.
const (
	minSmoothing = 1e-4
	minPhi       = 0.8
	maxPhi       = 0.98
	minLambda    = -0.5
	maxLambda    = 0.99
)
