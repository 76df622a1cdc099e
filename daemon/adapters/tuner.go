package adapters

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prescaler/prescaler/backtest"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/trace"
)

// Tuner replays a target's history through the backtest's simulator
// (backtest.Tune) for slo.overloadBudget: the forecaster is fitted on the
// first part of the history (config.TuneFit) and the rest is replayed with
// every candidate headroom, at the HPA's target and at hotter ones for the
// advice.
type Tuner struct{}

// Tune implements daemon.Tuner.
func (Tuner) Tune(ctx context.Context, req daemon.TuneRequest) (daemon.TuneResult, error) {
	if err := ctx.Err(); err != nil {
		return daemon.TuneResult{}, err
	}
	opts, err := tuneOptions(req)
	if err != nil {
		return daemon.TuneResult{}, err
	}
	c, err := backtest.Tune(opts)
	if err != nil {
		return daemon.TuneResult{}, err
	}
	res := daemon.TuneResult{Headroom: c.Chosen.Headroom, ReplayGPUHours: c.Chosen.GPUHours,
		ReplayOverloadedPerDay: c.Chosen.OverloadedPerDay, Met: c.Met}
	if a := c.Advice; a != nil {
		res.AdviceTarget, res.AdviceSaved, res.Advice = a.HPATargetUtilization, a.Saved, a.String()
	}
	return res, nil
}

// tuneOptions maps a request onto the backtest's options: the history as
// per-minute demand, the target's own settings and the cluster it runs in.
func tuneOptions(req daemon.TuneRequest) (backtest.TuneOptions, error) {
	t := req.Target
	step := time.Duration(t.Forecast.Step)
	stepMin := int(step / time.Minute)
	if stepMin < 1 || step%time.Minute != 0 {
		return backtest.TuneOptions{}, fmt.Errorf("forecast step %s: the replay needs whole minutes", step)
	}
	// Each step's demand is its mean rate per minute: every minute of the
	// step replays at that rate.
	minutes := make([]float64, 0, len(req.Demand)*stepMin)
	for _, v := range req.Demand {
		for range stepMin {
			minutes = append(minutes, float64(v))
		}
	}
	start := req.End.Add(-time.Duration(len(minutes)) * time.Minute)
	o := backtest.OptionsFor(t)
	o.Demand = trace.Series{Start: start.Unix() / 60, StepMinutes: 1, Values: minutes}
	o.Warmup = time.Duration(config.TuneFit(t))
	o.ReplicaCapacity, o.Startup = float64(req.ReplicaCapacity), req.Lead
	o.MinReplicas, o.MaxReplicas = max(1, req.MinReplicas), req.MaxReplicas
	if o.MaxReplicas < o.MinReplicas {
		o.MaxReplicas = max(o.MinReplicas, math.MaxInt16)
	}
	o.GPUsPerReplica, o.GPUs = 1, int(o.MaxReplicas)
	if req.CapacityReplicas > 0 {
		o.GPUs = int(min(req.CapacityReplicas, o.MaxReplicas))
	}
	return backtest.TuneOptions{Options: o, Budget: time.Duration(t.SLO.OverloadBudget).Minutes(),
		AdviseTargets: backtest.AdviceTargets(o.HPATargetUtilization)}, nil
}
