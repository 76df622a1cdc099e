package report

import (
	"encoding/json"
	"io"
	"maps"
	"math"
	"time"

	"github.com/prescaler/prescaler/backtest"
)

// WriteJSON writes the whole Result (without the per-minute timeline) as an
// indented JSON document. It differs from encoding backtest.Result directly
// in two ways: durations are written as seconds and as Go duration strings
// instead of nanoseconds, and numbers JSON cannot hold (NaN, ±Inf) and
// ratios that are undefined are written as null instead of failing the
// encoding or printing a misleading 0.
func WriteJSON(w io.Writer, res *backtest.Result) error {
	doc := jsonResult{
		EvalStart:     res.EvalStart,
		EvalStartTime: time.Unix(res.EvalStart*60, 0).UTC().Format(time.RFC3339),
		EvalMinutes:   res.EvalMinutes,
		Options:       finiteMap(res.Options),
		Policies:      jsonPolicies(res.Policies),
		FrontierRuns:  jsonPolicies(res.FrontierRuns),
		Frontier:      make([]jsonPoint, len(res.Frontier)),
		Comparisons:   make([]jsonComparison, len(res.Comparisons)),
		ElasticNodes:  res.ElasticNodes,
	}
	for i, p := range res.Frontier {
		doc.Frontier[i] = jsonPoint{Label: p.Label, GPUHours: Float(p.GPUHours), OverloadedMinutes: Float(p.OverloadedMinutes)}
	}
	for i, c := range res.Comparisons {
		jc := jsonComparison{Policy: c.Policy, OK: c.OK, GPUHoursVsOracle: Float(c.GPUHoursVsOracle)}
		if c.OK {
			v := Float(c.ReactiveOverload)
			jc.ReactiveOverload = &v
			if c.ReactiveOverload > 0 {
				r := Float(c.OverloadRatio)
				jc.OverloadRatio = &r
			}
		}
		doc.Comparisons[i] = jc
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// Float is a float64 that encodes NaN and ±Inf as null.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

type jsonResult struct {
	EvalStart     int64            `json:"eval_start_unix_minute"`
	EvalStartTime string           `json:"eval_start"`
	EvalMinutes   int              `json:"eval_minutes"`
	Options       map[string]any   `json:"options"`
	Policies      []jsonPolicy     `json:"policies"`
	FrontierRuns  []jsonPolicy     `json:"frontier_runs"`
	Frontier      []jsonPoint      `json:"frontier"`
	Comparisons   []jsonComparison `json:"comparisons"`
	ElasticNodes  bool             `json:"elastic_nodes,omitempty"`
}

type jsonPolicy struct {
	Policy            string            `json:"policy"`
	TargetUtilization Float             `json:"target_utilization,omitempty"`
	Summary           jsonSummary       `json:"summary"`
	Reasons           []backtest.Reason `json:"reasons,omitempty"`
}

type jsonSummary struct {
	Minutes           int    `json:"minutes"`
	OverloadedMinutes int    `json:"overloaded_minutes"`
	LatePercent       Float  `json:"late_percent"`
	P99WaitSeconds    Float  `json:"p99_wait_seconds"`
	P99Wait           string `json:"p99_wait"`
	GPUHours          Float  `json:"gpu_hours"`
	ScaleEvents       int    `json:"scale_events"`
	PendingPodMinutes Float  `json:"pending_pod_minutes"`
	// Elastic pools only (backtest.Summary).
	PodGPUHours         Float `json:"pod_gpu_hours,omitempty"`
	PlaceholderGPUHours Float `json:"placeholder_gpu_hours,omitempty"`
	NodesLaunched       int   `json:"nodes_launched,omitempty"`
	Preemptions         int   `json:"placeholder_preemptions,omitempty"`
}

type jsonPoint struct {
	Label             string `json:"label"`
	GPUHours          Float  `json:"gpu_hours"`
	OverloadedMinutes Float  `json:"overloaded_minutes"`
}

// jsonComparison: the frontier's overload is null outside its range, the
// ratio is null there and where the frontier's overload is 0.
type jsonComparison struct {
	Policy           string `json:"policy"`
	ReactiveOverload *Float `json:"reactive_overloaded_minutes_at_equal_gpu_hours"`
	OK               bool   `json:"within_frontier"`
	OverloadRatio    *Float `json:"overload_ratio"`
	GPUHoursVsOracle Float  `json:"gpu_hours_vs_oracle"`
}

func jsonPolicies(ps []backtest.PolicyResult) []jsonPolicy {
	out := make([]jsonPolicy, len(ps))
	for i, p := range ps {
		s := p.Summary
		out[i] = jsonPolicy{Policy: p.Policy, TargetUtilization: Float(p.TargetUtilization), Reasons: p.Reasons,
			Summary: jsonSummary{Minutes: s.Minutes, OverloadedMinutes: s.OverloadedMinutes, LatePercent: Float(s.LatePercent),
				P99WaitSeconds: Float(s.P99Wait.Seconds()), P99Wait: s.P99Wait.String(), GPUHours: Float(s.GPUHours),
				ScaleEvents: s.ScaleEvents, PendingPodMinutes: Float(s.PendingPodMinutes),
				PodGPUHours: Float(s.PodGPUHours), PlaceholderGPUHours: Float(s.PlaceholderGPUHours),
				NodesLaunched: s.NodesLaunched, Preemptions: s.Preemptions}}
	}
	return out
}

// finiteMap copies the options with float values made NaN-safe.
func finiteMap(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		if f, ok := v.(float64); ok {
			out[k] = Float(f)
		}
	}
	return out
}
