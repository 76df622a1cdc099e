package scaler

import (
	"fmt"
	"math"
)

// ForecastHealth is what the daemon knows about a target's recent forecasts.
type ForecastHealth struct {
	// WAPE is the weighted absolute percentage error of the lead-time
	// forecast over the window; NaN when nothing was scored.
	WAPE float64
	// Scored is the number of steps behind WAPE.
	Scored int
	// ShortShare is the share of the window's observations in which the
	// latency objective was breached while the floor was below the HPA's own
	// desired replicas: the forecast was short and the HPA had to catch up.
	ShortShare float64
}

// DemotionPolicy decides when a target's forecast is too poor to act on.
// A demoted target is reactive: its floor is the user's own minReplicas and
// the HPA alone scales it. The forecaster keeps running and being scored,
// so the target is promoted again when its error recovers. The thresholds
// form a hysteresis band (RecoverBelow < ErrorAbove), so a target near the
// threshold does not flap.
type DemotionPolicy struct {
	// ErrorAbove demotes when the WAPE exceeds it.
	ErrorAbove float64
	// RecoverBelow promotes when the WAPE falls below it (and short
	// forecasts are back under ShortAbove).
	RecoverBelow float64
	// ShortAbove demotes when ShortShare exceeds it; 0 disables the signal.
	ShortAbove float64
	// MinScored is how many scored steps a judgement needs.
	MinScored int
}

// Validate reports a policy that cannot work.
func (p DemotionPolicy) Validate() error {
	switch {
	case !(p.ErrorAbove > 0):
		return fmt.Errorf("demotion error threshold %v must be positive", p.ErrorAbove)
	case !(p.RecoverBelow > 0 && p.RecoverBelow < p.ErrorAbove):
		return fmt.Errorf("recovery threshold %v must be in (0, error threshold %v)", p.RecoverBelow, p.ErrorAbove)
	case p.ShortAbove < 0 || p.ShortAbove > 1:
		return fmt.Errorf("short-forecast share %v must be in [0, 1]", p.ShortAbove)
	case p.MinScored < 1:
		return fmt.Errorf("minimum scored steps %d must be >= 1", p.MinScored)
	}
	return nil
}

// Next returns whether the target is demoted after this observation of its
// health, and a sentence saying why when the state changes ("" otherwise).
// Too few scored steps never change the state: a fresh target stays as it
// was (promoted), and a demoted one is not promoted on no evidence.
func (p DemotionPolicy) Next(demoted bool, h ForecastHealth) (bool, string) {
	if h.Scored < p.MinScored || math.IsNaN(h.WAPE) {
		return demoted, ""
	}
	short := p.ShortAbove > 0 && h.ShortShare > p.ShortAbove
	switch {
	case !demoted && h.WAPE > p.ErrorAbove:
		return true, fmt.Sprintf("forecast error %.2f over %d steps is above %.2f: reactive until it falls below %.2f",
			h.WAPE, h.Scored, p.ErrorAbove, p.RecoverBelow)
	case !demoted && short:
		return true, fmt.Sprintf("the forecast was short in %.0f%% of the window (latency objective breached below the HPA's own count), above %.0f%%",
			100*h.ShortShare, 100*p.ShortAbove)
	case demoted && h.WAPE < p.RecoverBelow && !short:
		return false, fmt.Sprintf("forecast error %.2f over %d steps is below %.2f: forecasting again", h.WAPE, h.Scored, p.RecoverBelow)
	}
	return demoted, ""
}
