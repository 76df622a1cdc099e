package config

import (
	"hash/fnv"
	"time"

	"github.com/prescaler/prescaler/policy"
)

// DefaultLeadTime is the lead time of a target with `leadTime: auto` before
// enough of its pods were seen starting to measure one.
const DefaultLeadTime = 3 * time.Minute

// ConfiguredLead is the lead time a target's forecaster is built for: the
// configured one, or DefaultLeadTime until start-up times are measured.
func (t *Target) ConfiguredLead() time.Duration {
	if t.LeadTime.Auto {
		return DefaultLeadTime
	}
	return t.LeadTime.Duration
}

// PolicySettings are the forecaster and decision settings of the target:
// the daemon builds each target's Planner from them, and the backtest
// replays a trace through a Planner built the same way.
func (t *Target) PolicySettings() policy.Settings {
	step := time.Duration(t.Forecast.Step)
	refitEvery := 1
	if step > 0 {
		refitEvery = max(1, int(time.Duration(t.Forecast.Refit)/step))
	}
	return policy.Settings{
		Step:               step,
		Season:             time.Duration(t.Forecast.Season),
		Season2:            time.Duration(t.Forecast.Season2),
		History:            time.Duration(t.Forecast.History),
		Refit:              time.Duration(t.Forecast.Refit),
		RefitPhase:         refitPhase(t.Name, refitEvery),
		Lead:               t.ConfiguredLead(),
		Guard:              time.Duration(t.ScaleDown.Stabilization),
		MaxStepDownPercent: t.ScaleDown.MaxStepPercent,
		Troughs:            t.ScaleDown.Troughs,
	}
}

// Headroom is the target's configured headroom.
func (t *Target) Headroom() policy.Headroom {
	return policy.Headroom{Quantile: t.Forecast.Quantile, Utilization: t.Forecast.FloorUtilization}
}

// refitPhase spreads the targets' refits over the refit period by a hash of
// their name, so a thousand targets do not all refit in the same loop.
func refitPhase(name string, every int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return 1 + int(h.Sum32()%uint32(every))
}
