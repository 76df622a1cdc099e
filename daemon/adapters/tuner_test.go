package adapters

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prescaler/prescaler/backtest"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/trace"
)

// tuneRequest is days of the built-in synthetic demand for a target with
// that much history and a 10-minute daily overload budget.
func tuneRequest(t testing.TB, days int) daemon.TuneRequest {
	t.Helper()
	synth := trace.DefaultSynthOptions()
	synth.Days = days
	demand, err := trace.Synthesize(synth)
	if err != nil {
		t.Fatal(err)
	}
	tc := config.DefaultTarget()
	tc.Name, tc.Namespace, tc.HPA, tc.Queries.Demand = "a", "default", "a", "demand"
	tc.ReplicaCapacity = config.ReplicaCapacity{Value: 50}
	tc.SLO.OverloadBudget = config.Duration(10 * time.Minute)
	tc.Forecast.History = config.Duration(time.Duration(days) * 24 * time.Hour)
	end := time.Unix((demand.Start+int64(demand.Len()))*60, 0)
	values := make([]scaler.PerMinute, demand.Len())
	for i, v := range demand.Values {
		values[i] = scaler.PerMinute(v)
	}
	return daemon.TuneRequest{Target: tc, Demand: values, End: end, ReplicaCapacity: 50, Lead: 3 * time.Minute,
		MinReplicas: 1, MaxReplicas: 40, CapacityReplicas: 40}
}

// The daemon's replay is the backtest's Tune on the target's own history:
// the choice is one of the candidates, within the budget, and no candidate
// within the budget is cheaper; the advice, if any, saves GPU-hours at a
// hotter target.
func TestTunerReplaysTheHistory(t *testing.T) {
	req := tuneRequest(t, 6)
	res, err := Tuner{}.Tune(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Met || res.ReplayOverloadedPerDay > 10 || !(res.ReplayGPUHours > 0) {
		t.Fatalf("result %+v: want a choice within 10 overloaded minutes per day", res)
	}
	opts, err := tuneOptions(req)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Warmup != 3*24*time.Hour || opts.Demand.Len() != 6*24*60 || opts.HPATargetUtilization != 0.7 || opts.QueueTarget != 5 {
		t.Errorf("replay options: warm-up %s of %d minutes, HPA %v, queue %v", opts.Warmup, opts.Demand.Len(), opts.HPATargetUtilization, opts.QueueTarget)
	}
	c, err := backtest.Tune(opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Chosen.Headroom != res.Headroom || c.Chosen.GPUHours != res.ReplayGPUHours {
		t.Errorf("the daemon's replay chose %+v, the backtest's Tune %+v", res, c.Chosen)
	}
	if res.AdviceTarget != 0 && !(res.AdviceTarget > 0.7 && res.AdviceSaved > 0 && res.Advice != "") {
		t.Errorf("advice %v saving %v %q", res.AdviceTarget, res.AdviceSaved, res.Advice)
	}
	if math.IsNaN(res.ReplayOverloadedPerDay) {
		t.Error("NaN overload")
	}
}

// BenchmarkTune14d is one target's daily replay: 14 days of 1-minute
// history, the forecaster fitted on 7, 7 days replayed with 12 headroom
// candidates at the HPA's target and two hotter ones.
func BenchmarkTune14d(b *testing.B) {
	req := tuneRequest(b, 14)
	for b.Loop() {
		if _, err := (Tuner{}).Tune(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
