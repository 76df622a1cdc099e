package daemon

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/prescaler/prescaler/config"
)

// TargetStatus is one target's state as its last loop left it: what the
// daemon serves on /status and `prescaler status` prints. Every number in
// it is the one the same loop exported as a metric (record and statusOf
// read the same Outcome through the same helpers).
type TargetStatus struct {
	Target    string `json:"target"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Mode is the target's mode: active writes, shadow only decides.
	Mode string `json:"mode"`
	// Skipped names why nothing was decided ("disabled", "opted_out",
	// "unsupported_scale_target", "warming": its history is still being
	// read).
	Skipped string `json:"skipped,omitempty"`
	// Floor is the minReplicas decided (in shadow mode: would have written).
	Floor int32 `json:"floor"`
	// Needed is what the forecast asked for before any bound, Replicas what
	// the scale target ran.
	Needed   int32 `json:"needed"`
	Replicas int32 `json:"replicas"`
	// Reason is the decision's reason (the label set to 1 on
	// prescaler_decision_reason) and Message its sentence.
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Forecast is the demand forecast per minute, as
	// prescaler_forecast_demand_per_minute (nil without a forecast).
	Forecast *ForecastStatus `json:"forecast,omitempty"`
	// Demoted: the forecast is demoted to reactive scaling.
	Demoted   bool `json:"demoted"`
	DataFresh bool `json:"dataFresh"`
	// LastWrite is the last write that changed the object (nil: none since
	// this process started).
	LastWrite *WriteStatus `json:"lastWrite,omitempty"`
	// Problem is the loop's errors, joined ("" when none).
	Problem   string    `json:"problem,omitempty"`
	DecidedAt time.Time `json:"decidedAt"`
}

// ForecastStatus is the forecast of one loop, per minute; the JSON names are
// the statistic label values of prescaler_forecast_demand_per_minute.
type ForecastStatus struct {
	MeanNext     float64 `json:"mean_next"`
	QuantilePeak float64 `json:"quantile_peak"`
	MeanLead     float64 `json:"mean_lead"`
	LowerLead    float64 `json:"lower_lead"`
	UpperLead    float64 `json:"upper_lead"`
}

// WriteStatus is one write that changed the object.
type WriteStatus struct {
	At            time.Time `json:"at"`
	PreviousFloor int32     `json:"previousFloor"`
	Floor         int32     `json:"floor"`
	Reason        string    `json:"reason"`
}

// forecastOf is the forecast of o per minute, or nil when o has none.
func forecastOf(o Outcome) *ForecastStatus {
	if len(o.Forecast) == 0 {
		return nil
	}
	return &ForecastStatus{
		MeanNext:     float64(o.Forecast[0].Mean),
		QuantilePeak: float64(o.Decision.PeakDemand),
		MeanLead:     o.LeadForecast.Mean,
		LowerLead:    o.LeadForecast.Lower,
		UpperLead:    o.LeadForecast.Upper,
	}
}

// statusOf is the status o leaves, carrying prev's last write forward when
// o changed nothing (and o's object is prev's). mode is the target's
// configured mode.
func statusOf(o Outcome, mode config.Mode, at time.Time, prev *TargetStatus) TargetStatus {
	s := TargetStatus{
		Target: o.Target, Kind: o.Object.Kind, Namespace: o.Object.Namespace, Name: o.Object.Name,
		Mode: string(mode), Skipped: o.Skipped, DecidedAt: at,
		Floor: o.Decision.Floor, Needed: o.Decision.Needed, Replicas: o.Replicas,
		Reason: string(o.Decision.Reason), Message: o.Decision.Message,
		Forecast: forecastOf(o), Demoted: o.Demoted, DataFresh: o.DataFresh,
	}
	if prev != nil && prev.Kind == s.Kind && prev.Namespace == s.Namespace && prev.Name == s.Name {
		s.LastWrite = prev.LastWrite
	}
	if o.Changed {
		s.LastWrite = &WriteStatus{At: at, PreviousFloor: o.PreviousFloor, Floor: o.WrittenFloor, Reason: s.Reason}
	}
	if err := errors.Join(append(slices.Clip(o.Errs), o.WriteErr)...); err != nil {
		s.Problem = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return s
}

// Status returns every target's status, in target-name order: the state
// the last loop left (no entry for a target before its first loop).
func (d *Daemon) Status() []TargetStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]TargetStatus, 0, len(d.status))
	for _, s := range d.status {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// noteStatus keeps the status o leaves for a target still configured.
func (d *Daemon) noteStatus(o Outcome, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.targets[o.Target]
	if !ok {
		return
	}
	var prev *TargetStatus
	if p, ok := d.status[o.Target]; ok {
		prev = &p
	}
	if d.status == nil {
		d.status = map[string]TargetStatus{}
	}
	d.status[o.Target] = statusOf(o, t.cfg.Mode, at, prev)
}
