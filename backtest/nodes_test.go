package backtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prescaler/prescaler/trace"
)

// rampTrace is days of a quiet service (2 replicas at 60 req/min each)
// that ramps every morning at 08:00 to 30 replicas' worth within 15
// minutes, holds two hours, and falls back within half an hour; a little
// deterministic noise keeps the forecaster's intervals honest.
func rampTrace(days int) trace.Series {
	const low, high = 120.0, 1800.0
	s := trace.Series{Start: 29_026_080, StepMinutes: 1, Values: make([]float64, days*24*60)}
	for i := range s.Values {
		m := float64(i%(24*60)) - 8*60
		level := low
		switch {
		case m >= 0 && m < 15:
			level = low + (high-low)*m/15
		case m >= 15 && m < 135:
			level = high
		case m >= 135 && m < 165:
			level = high - (high-low)*(m-135)/30
		}
		s.Values[i] = level * (1 + 0.03*math.Sin(float64(i)*1.7))
	}
	return s
}

// elasticOptions replay rampTrace on nodes of 4 GPUs that take 5 minutes.
func elasticOptions() Options {
	return Options{
		Demand: rampTrace(9), Warmup: 7 * 24 * time.Hour, ReplicaCapacity: 60, Startup: 3 * time.Minute,
		GPUs: 40, MaxReplicas: 40, QueueTarget: 5, Timeline: true, FrontierUtilizations: []float64{},
		NodeDelay: 5 * time.Minute, GPUsPerNode: 4, Placeholders: true,
	}
}

// On a ramp the nodes cannot hold, prescaler that sees the node delay asks
// for the nodes in time and overloads fewer minutes than prescaler clamped
// to the Ready nodes; with placeholders the nodes come up the same way
// while the floor waits for the start-up time.
func TestNodeAwareBeatsClampedOnARamp(t *testing.T) {
	r, err := Run(elasticOptions())
	if err != nil {
		t.Fatal(err)
	}
	aware, clamped, holders := r.Policy(Prescaler), r.Policy(Clamped), r.Policy(WithPlaceholders)
	if aware == nil || clamped == nil || holders == nil || !r.ElasticNodes {
		t.Fatalf("policies %v: want prescaler, %s and %s on an elastic pool", names(r), Clamped, WithPlaceholders)
	}
	t.Logf("overloaded minutes / node GPU-hours: reactive %d / %.1f, clamped %d / %.1f, node-aware %d / %.1f, placeholders %d / %.1f, oracle %d / %.1f",
		r.Policy(Reactive).Summary.OverloadedMinutes, r.Policy(Reactive).Summary.GPUHours,
		clamped.Summary.OverloadedMinutes, clamped.Summary.GPUHours, aware.Summary.OverloadedMinutes, aware.Summary.GPUHours,
		holders.Summary.OverloadedMinutes, holders.Summary.GPUHours, r.Policy(Oracle).Summary.OverloadedMinutes, r.Policy(Oracle).Summary.GPUHours)
	if a, c := aware.Summary.OverloadedMinutes, clamped.Summary.OverloadedMinutes; a >= c {
		t.Errorf("node-aware overloaded %d minutes, clamped %d: want fewer", a, c)
	}
	if h, c := holders.Summary.OverloadedMinutes, clamped.Summary.OverloadedMinutes; h >= c {
		t.Errorf("placeholders overloaded %d minutes, clamped %d: want fewer", h, c)
	}
	if o := r.Policy(Oracle).Summary; o.OverloadedMinutes != 0 || o.PlaceholderGPUHours == 0 {
		t.Errorf("oracle %+v: want no overload, its nodes brought up by placeholders", o)
	}
	if s := holders.Summary; s.Preemptions == 0 || s.PlaceholderGPUHours == 0 {
		t.Errorf("placeholder run %+v: want placeholders that held GPUs and were preempted", s)
	}
	if !hasReason(aware, "forecast") || hasReason(clamped, "pool_limit") {
		t.Errorf("reasons: node-aware %v, clamped %v", aware.Reasons, clamped.Reasons)
	}
	for _, p := range r.Policies {
		s := p.Summary
		if s.GPUHours < s.PodGPUHours+s.PlaceholderGPUHours || s.PodGPUHours == 0 {
			t.Errorf("%s: node GPU-hours %.1f below pods' %.1f + placeholders' %.1f", p.Policy, s.GPUHours, s.PodGPUHours, s.PlaceholderGPUHours)
		}
	}
	// The floor of the placeholder run waits for the start-up time: on the
	// first evaluated ramp it rises later than the node-aware floor.
	if a, h := firstFloorAbove(aware, 10), firstFloorAbove(holders, 10); !(a >= 0 && h > a) {
		t.Errorf("floor above 10 at minute %d (node-aware), %d (placeholders): want the placeholder run's later", a, h)
	}
}

// A pool limit below what the ramp needs bounds every floor and every
// pool: no pod waits for a node that cannot come.
func TestPoolLimitIsNeverExceeded(t *testing.T) {
	o := elasticOptions()
	o.PoolLimitGPUs = 18 // 4 nodes of 4: 16 replicas
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Policies {
		for _, row := range p.Timeline {
			if row.Nodes < 1 || row.Nodes > 4 || row.Floor > 16 {
				t.Fatalf("%s at %d: %d nodes, floor %d: outside the pool's 1 to 4 nodes (16 replicas)",
					p.Policy, row.UnixMinute, row.Nodes, row.Floor)
			}
		}
	}
	if p := r.Policy(Prescaler); !hasReason(p, "pool_limit") {
		t.Errorf("reasons %v: the ramp past the pool's limit never named it", p.Reasons)
	}
}

func TestNodeOptionsErrorsNameTheOption(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"node size on a fixed pool", func(o *Options) { o.NodeDelay = 0 }, "gpus per node 4: needs a node delay"},
		{"placeholders on a fixed pool", func(o *Options) { o.NodeDelay, o.GPUsPerNode = 0, 0 }, "placeholders true: needs a node delay"},
		{"negative delay", func(o *Options) { o.NodeDelay = -time.Minute }, "node delay -1m0s"},
		{"node smaller than a replica", func(o *Options) { o.GPUsPerReplica = 8 }, "gpus per node 4"},
		{"limit below a node", func(o *Options) { o.PoolLimitGPUs = 3 }, "pool limit gpus 3"},
		{"too many min nodes", func(o *Options) { o.MinNodes = 11 }, "min nodes 11"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := elasticOptions()
			c.edit(&o)
			_, err := Run(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func names(r *Result) []string {
	var out []string
	for _, p := range r.Policies {
		out = append(out, p.Policy)
	}
	return out
}

func hasReason(p *PolicyResult, reason string) bool {
	for _, r := range p.Reasons {
		if r.Reason == reason {
			return true
		}
	}
	return false
}

// firstFloorAbove is the first timeline minute whose floor exceeds n, or -1.
func firstFloorAbove(p *PolicyResult, n int32) int {
	for i, row := range p.Timeline {
		if row.Floor > n {
			return i
		}
	}
	return -1
}
