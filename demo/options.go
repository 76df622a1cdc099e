package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"
)

// minutesPerDay is one trace day.
const minutesPerDay = 24 * 60

// Options are the demo's flags.
type Options struct {
	// Trace is a CSV trace (unix_minute,requests); empty: the synthetic one.
	Trace string
	// Speed is the real time one trace minute lasts.
	Speed time.Duration
	// Days is how many compressed days to run live; Duration, when set,
	// stops the run earlier in real time.
	Days     float64
	Duration time.Duration
	// HistoryDays are backfilled into Prometheus before the live run.
	HistoryDays int
	// Start is the trace's time of day (UTC) the live run begins at.
	Start string
	// Startup is how long a pod takes from bound to Ready (real time).
	Startup time.Duration
	// Capacity is the requests per trace minute one Ready replica serves.
	Capacity float64
	// Nodes of GPUs each.
	Nodes, GPUs int
	// MaxReplicas is the HPA's maxReplicas.
	MaxReplicas int
	// SLO is the queue wait (trace time) above which the service counts as
	// overloaded.
	SLO time.Duration
	// Refresh is how often the live table gets a line.
	Refresh time.Duration
	// Prescaler runs prescaler; false leaves the HPA alone, for comparison.
	Prescaler bool
	// CPUMetric adds the seed HPA's CPU 70 % metric (see docs/demo.md).
	CPUMetric bool
	// Keep keeps the testbed folder and prescaler's log.
	Keep bool
}

// DefaultOptions is `make demo`: a weekday of the synthetic trace from
// 06:00, a trace minute every 250 ms (a day in 6 minutes), four days of
// history, pods that take 10 s to start on two nodes of 4 GPUs.
func DefaultOptions() Options {
	return Options{
		Speed: 250 * time.Millisecond, Days: 1, HistoryDays: 4, Start: "06:00",
		Startup: 10 * time.Second, Capacity: 80, Nodes: 2, GPUs: 4, MaxReplicas: 20,
		SLO: time.Minute, Refresh: 2 * time.Second, Prescaler: true,
	}
}

func parseFlags(args []string, errOut io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&o.Trace, "trace", o.Trace, "per-minute trace CSV (unix_minute,requests); default: the synthetic trace")
	fs.DurationVar(&o.Speed, "speed", o.Speed, "real time one trace minute lasts (a trace day takes 1440 times this)")
	fs.Float64Var(&o.Days, "days", o.Days, "compressed days to run live (fractions allowed)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "stop after this much real time, if earlier (0: no limit)")
	fs.IntVar(&o.HistoryDays, "history-days", o.HistoryDays, "compressed days backfilled into Prometheus for the first fit")
	fs.StringVar(&o.Start, "start", o.Start, "trace time of day (UTC, HH:MM) the live run starts at")
	fs.DurationVar(&o.Startup, "startup", o.Startup, "pod start-up time, bound to Ready (real time)")
	fs.Float64Var(&o.Capacity, "replica-capacity", o.Capacity, "requests per trace minute one Ready replica serves")
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "kwok GPU nodes")
	fs.IntVar(&o.GPUs, "gpus", o.GPUs, "nvidia.com/gpu per node")
	fs.IntVar(&o.MaxReplicas, "max-replicas", o.MaxReplicas, "the HPA's maxReplicas")
	fs.DurationVar(&o.SLO, "slo", o.SLO, "queue wait (trace time) above which the service counts as overloaded")
	fs.DurationVar(&o.Refresh, "refresh", o.Refresh, "real time between two lines of the live table")
	fs.BoolVar(&o.Prescaler, "prescaler", o.Prescaler, "run prescaler; --prescaler=false shows the HPA alone")
	fs.BoolVar(&o.CPUMetric, "cpu-metric", o.CPUMetric, "add CPU 70% to the HPA (no metrics-server: it blocks scale-down, see docs/demo.md)")
	fs.BoolVar(&o.Keep, "keep", o.Keep, "keep the testbed folder (logs, kubeconfig) and prescaler's log")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	return o, o.Validate()
}

// Validate reports every bad flag.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Speed < 10*time.Millisecond {
		bad("--speed %s: must be at least 10ms", o.Speed)
	} else if day := o.Speed * minutesPerDay; day%time.Second != 0 {
		// prescaler's forecast step and season are whole seconds.
		bad("--speed %s: a trace day (1440 × speed = %s) must be a whole number of seconds", o.Speed, day)
	}
	if !(o.Days > 0) || math.IsInf(o.Days, 0) {
		bad("--days %v: must be positive", o.Days)
	}
	if o.Duration < 0 {
		bad("--duration %s: must not be negative", o.Duration)
	}
	if o.HistoryDays < 2 {
		bad("--history-days %d: the forecaster needs at least 2 days to learn a daily season", o.HistoryDays)
	}
	if _, err := minuteOfDay(o.Start); err != nil {
		bad("--start: %v", err)
	}
	if o.Startup <= 0 {
		bad("--startup %s: must be positive", o.Startup)
	}
	if !(o.Capacity > 0) || math.IsInf(o.Capacity, 0) {
		bad("--replica-capacity %v: must be positive", o.Capacity)
	}
	if o.Nodes < 1 || o.GPUs < 1 {
		bad("--nodes %d --gpus %d: need at least one node with one GPU", o.Nodes, o.GPUs)
	}
	if o.MaxReplicas < 1 {
		bad("--max-replicas %d: must be at least 1", o.MaxReplicas)
	}
	if o.SLO <= 0 || o.Refresh <= 0 {
		bad("--slo %s --refresh %s: must be positive", o.SLO, o.Refresh)
	}
	return errors.Join(errs...)
}

// minuteOfDay parses HH:MM.
func minuteOfDay(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// day is one compressed day in real time.
func (o Options) day() time.Duration { return o.Speed * minutesPerDay }

// liveMinutes is the trace minutes the live run covers.
func (o Options) liveMinutes() float64 { return o.Days * minutesPerDay }
