package scaler

import (
	"strings"
	"testing"
	"time"
)

// nodeInputs is base() where new nodes take 4 minutes: the nodes hold 6
// replicas, the pools may add 8 more, and demand rises to 1,000 req/min
// (10 replicas) 6 minutes ahead: beyond the 3-minute lead, within node lead
// plus lead.
func nodeInputs() Inputs {
	in := base()
	in.Forecast = withPeak(12, 500, 1000, 5, 8)
	in.CapacityReplicas = 6
	in.ProvisionableReplicas = 8
	in.NodeLead = 4 * time.Minute
	return in
}

func TestDecideAsksForNewNodesANodeLeadEarlier(t *testing.T) {
	d := Decide(nodeInputs())
	if d.Floor != 10 || !d.NodesDue || d.Reason != ReasonForecast || d.Placeholders != 0 {
		t.Errorf("decision %+v: want floor 10 now, nodes due, no placeholders", d)
	}
	if !strings.Contains(d.Message, "new nodes take 4m0s") {
		t.Errorf("message %q does not say why the floor rises early", d.Message)
	}

	// A fixed pool (no node lead) waits for the lead time.
	fixed := nodeInputs()
	fixed.NodeLead, fixed.ProvisionableReplicas = 0, 0
	if d := Decide(fixed); d.Floor != 5 || d.NodesDue {
		t.Errorf("fixed pool: decision %+v, want the floor in force (5) until the lead time", d)
	}
	// Enough room on the nodes now: no reason to ask early.
	roomy := nodeInputs()
	roomy.CapacityReplicas = 12
	if d := Decide(roomy); d.Floor != 5 || d.NodesDue {
		t.Errorf("room for 12: decision %+v, want no early raise", d)
	}
}

func TestDecideWithPlaceholders(t *testing.T) {
	in := nodeInputs()
	in.Placeholders = true
	d := Decide(in)
	// The floor covers the lead time only; the placeholders make up the gap
	// to the 10 replicas due after node lead + lead.
	if d.Floor != 5 || !d.NodesDue || d.Placeholders != 5 {
		t.Errorf("decision %+v: want floor 5 and 5 placeholders", d)
	}
	// The pools' limit bounds the placeholders too.
	in.ProvisionableReplicas = 2
	if d := Decide(in); d.Placeholders != 3 {
		t.Errorf("pools limited to 2 more: %d placeholders, want 8 − 5 = 3", d.Placeholders)
	}
}

func TestDecidePoolLimit(t *testing.T) {
	in := nodeInputs()
	in.Forecast = withPeak(12, 500, 1800, 1, 8) // 18 replicas, within the lead time
	d := Decide(in)
	if d.Floor != 14 || d.Reason != ReasonPoolLimit {
		t.Errorf("decision %+v: want 6 on the nodes + 8 the pools allow = 14, pool_limit", d)
	}
	in.ProvisionableReplicas = 0
	if d := Decide(in); d.Floor != 6 || d.Reason != ReasonGPUCapacity {
		t.Errorf("no provisioning: decision %+v, want 6, gpu_capacity", d)
	}
}

func TestDecideNeedsTheForecastThroughTheNodeLead(t *testing.T) {
	in := nodeInputs()
	in.Guard = 2 * time.Minute
	in.Forecast = in.Forecast[:7] // lead + guard (6 steps) covered, node lead + lead (8) not
	if d := Decide(in); d.Reason != ReasonFallback || !strings.Contains(d.Message, "node lead") {
		t.Errorf("decision %+v: want a fallback on a forecast too short for node lead + lead", d)
	}
	in.Forecast = nodeInputs().Forecast[:8]
	if d := Decide(in); d.Reason == ReasonFallback {
		t.Errorf("decision %+v on a forecast through node lead + lead", d)
	}
	if got := ForecastStepsWithNodes(time.Minute, 0, 3*time.Minute, 5*time.Minute, 4*time.Minute); got != 9 {
		t.Errorf("ForecastStepsWithNodes = %d, want 9 (through 3 + 5 minutes)", got)
	}
	if got := ForecastStepsWithNodes(time.Minute, 0, 3*time.Minute, 2*time.Minute, 4*time.Minute); got != 8 {
		t.Errorf("ForecastStepsWithNodes = %d, want 8 (through 3 + 4 minutes)", got)
	}
}
