package backtest_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/backtest"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/trace"
)

// The backtest reports what the daemon would do: one trace fed to the
// daemon's own loop (daemon.RunOnce every minute on a virtual clock, with
// in-memory sources that read the trace and the backtest's simulated
// cluster) gives the backtest's prescaler floors minute by minute.
func TestBacktestFloorsAreTheDaemons(t *testing.T) {
	synth := trace.DefaultSynthOptions()
	synth.Days = 9
	demand, err := trace.Synthesize(synth)
	if err != nil {
		t.Fatal(err)
	}
	opts := backtest.Options{
		Demand: demand, Warmup: 7 * 24 * time.Hour, ReplicaCapacity: 60, Startup: 3 * time.Minute,
		GPUs: 40, MaxReplicas: 40, QueueTarget: 5, Timeline: true, FrontierUtilizations: []float64{0.7},
	}.Defaults()
	res, err := backtest.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Policy(backtest.Prescaler).Timeline

	target := opts.Target()
	target.Namespace, target.HPA, target.Queries.Demand = "default", "inference-hpa", "demand"
	target.ReplicaCapacity = config.ReplicaCapacity{Value: opts.ReplicaCapacity}
	target.Demotion.Enabled = false // the backtest scores no forecast health
	cfg := &config.Config{Interval: config.Duration(time.Minute), Targets: []config.Target{target}}
	warm := int(opts.Warmup / time.Minute)
	world := &simulatedWorld{opts: opts, rows: rows, warm: warm, floor: opts.MinReplicas}
	d, err := daemon.New(cfg, daemon.Options{Demand: world, Capacity: world, Startup: world, Scaler: world, Signals: world,
		Metrics: daemon.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	for m := warm; m < demand.Len(); m++ {
		world.minute = m
		now := time.Unix(demand.MinuteAt(m)*60, 0)
		out := d.RunOnce(context.Background(), now)[0]
		if len(out.Errs) > 0 || out.WriteErr != nil {
			t.Fatalf("minute %d: %v %v", m, out.Errs, out.WriteErr)
		}
		if got, want := out.Decision.Floor, rows[m-warm].Floor; got != want {
			t.Fatalf("minute %d (%s): daemon floor %d (%s: %s), backtest %d", m-warm, now.UTC().Format(time.DateTime),
				got, out.Decision.Reason, out.Decision.Message, want)
		}
	}
}

// simulatedWorld answers the daemon's sources from the trace and the
// backtest's timeline: at minute m the cluster is as the backtest left it
// at the end of minute m-1.
type simulatedWorld struct {
	opts   backtest.Options
	rows   []backtest.Row
	warm   int
	minute int
	floor  int32
}

func (w *simulatedWorld) Steps(_ context.Context, _ *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	var out []scaler.PerMinute
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		k := int(at.Unix()/60 - w.opts.Demand.Start)
		v := math.NaN()
		if k >= 0 && k < w.opts.Demand.Len() {
			v = w.opts.Demand.Values[k]
		}
		out = append(out, scaler.PerMinute(v))
	}
	return out, nil
}

func (w *simulatedWorld) CapacityReplicas(context.Context, *config.Target) (int32, error) {
	return int32(w.opts.GPUs / w.opts.GPUsPerReplica), nil
}

func (w *simulatedWorld) StartupP90(context.Context, *config.Target) (time.Duration, bool, error) {
	return 0, false, nil
}

func (w *simulatedWorld) Signals(context.Context, *config.Target, time.Time) (daemon.Signals, error) {
	s := daemon.NoSignals()
	if w.minute > w.warm {
		s.QueueDepth = w.rows[w.minute-w.warm-1].Backlog
	}
	return s, nil
}

// replicas is the Deployment's replica count at the start of the minute:
// the backtest's first minute starts where the HPA would settle.
func (w *simulatedWorld) replicas() int32 {
	if w.minute > w.warm {
		return w.rows[w.minute-w.warm-1].Replicas
	}
	first := math.Ceil(w.opts.Demand.Values[w.warm] / (w.opts.ReplicaCapacity * w.opts.HPATargetUtilization))
	return max(w.opts.MinReplicas, min(int32(first), w.opts.MaxReplicas))
}

func (w *simulatedWorld) State(context.Context, *config.Target) (daemon.ScaleState, error) {
	return daemon.ScaleState{UserMinReplicas: w.opts.MinReplicas, MaxReplicas: w.opts.MaxReplicas,
		CurrentFloor: w.floor, CurrentReplicas: w.replicas()}, nil
}

func (w *simulatedWorld) Apply(_ context.Context, _ *config.Target, d scaler.Decision) (daemon.WriteReport, error) {
	w.floor = d.Floor
	return daemon.WriteReport{}, nil
}

func (w *simulatedWorld) Restore(context.Context, *config.Target) (daemon.WriteReport, error) {
	return daemon.WriteReport{}, nil
}

func (w *simulatedWorld) Announce(context.Context, *config.Target, bool, string, string) error {
	return nil
}
