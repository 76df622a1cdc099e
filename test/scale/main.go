// Command scale measures prescaler with many targets on the project's test
// control plane (test/testbed: etcd, kube-apiserver, the HPA controller,
// kube-scheduler, kwok GPU nodes and a real Prometheus). `make scale-test`
// runs it (flags through SCALE_FLAGS); it is not part of `make test`.
//
// It creates --targets GPU Deployments with their HPAs, backfills --days of
// per-target demand shaped like real traces into Prometheus, and runs two
// `prescaler run` replicas with leader election on. It reports the cold
// start of one replica, then that replica's cold start again from the
// checkpoint it wrote (--checkpoint-interval), the steady state of the pair (loop duration against
// the interval, API server and Prometheus requests, CPU and memory of both)
// and how long the standby takes to lead after the leader is killed. The
// report is printed as a table and written to --out/report.json; the
// replicas' logs and configs are kept there too, and with --heap-profiles
// their heap profiles (go tool pprof), to see what holds their memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(2)
	}
	// Ctrl-C or SIGTERM cancels the run: every wait returns, and the
	// deferred clean-up stops the replicas and the testbed. A second signal
	// kills the harness at once; its children die with it (they run with
	// a parent-death signal).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()

	rep := newReport(o)
	err = run(ctx, &o, rep)
	rep.Finished = time.Now().UTC()
	if err != nil {
		rep.Error = err.Error()
	}
	rep.Flags.OutputFolder = o.out
	fmt.Println()
	rep.print(os.Stdout)
	if o.out != "" {
		if werr := rep.writeJSON(o.out); werr != nil {
			fmt.Fprintln(os.Stderr, "scale: writing report.json:", werr)
		} else {
			fmt.Printf("\nreport: %s/report.json (prescaler logs and configs beside it)\n", o.out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	targets       int
	days          int
	step          time.Duration
	loops         int
	interval      time.Duration
	out           string
	prescaler     string
	gpusPerNode   int
	capacity      float64
	leadTime      time.Duration
	leaseDuration time.Duration
	backfillChunk time.Duration
	maxReplicas   int32
	seed          uint64
	coldTimeout   time.Duration
	warmTimeout   time.Duration
	keepTestbed   bool
	heapProfiles  bool
	gogc          int

	// checkpointInterval is the replicas' checkpoint.interval (0: none).
	checkpointInterval time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.IntVar(&o.targets, "targets", 1000, "targets: Deployments with an HPA, each one prescaler target")
	fs.IntVar(&o.days, "days", 14, "days of demand history backfilled into Prometheus and read at start (forecast.history)")
	fs.DurationVar(&o.step, "step", time.Minute, "forecast step and backfill resolution (whole minutes dividing a day; 5m makes the backfill 5× smaller)")
	fs.IntVar(&o.loops, "loops", 10, "steady-state loops measured (the window is loops × interval)")
	fs.DurationVar(&o.interval, "interval", 15*time.Second, "prescaler's loop interval")
	fs.StringVar(&o.out, "out", "", "folder for report.json, the replicas' configs and logs (default: a new folder under $TMPDIR)")
	fs.StringVar(&o.prescaler, "prescaler", "bin/prescaler", "the prescaler binary (make build)")
	fs.IntVar(&o.gpusPerNode, "gpus-per-node", 8, "GPUs per kwok node; nodes are added for twice as many GPUs as targets")
	fs.Float64Var(&o.capacity, "capacity", 100, "replicaCapacity (requests per minute per replica); each target's peak needs 2-4 replicas of it")
	fs.DurationVar(&o.leadTime, "lead-time", 3*time.Minute, "every target's leadTime")
	fs.DurationVar(&o.leaseDuration, "lease-duration", 15*time.Second, "leaderElection.leaseDuration (renewDeadline is two thirds of it)")
	fs.DurationVar(&o.backfillChunk, "backfill-chunk", 54*time.Hour, "history per OpenMetrics file and BackfillPrometheus call (0: one file); promtool parses a file once per 18h block")
	var maxReplicas int
	fs.IntVar(&maxReplicas, "hpa-max", 5, "every HPA's maxReplicas")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the targets' trace, phase and peak")
	fs.DurationVar(&o.coldTimeout, "cold-timeout", 30*time.Minute, "longest wait for the first replica's cold start")
	fs.DurationVar(&o.warmTimeout, "warm-timeout", 5*time.Minute, "longest wait for the standby to read every target's history; the run goes on without it, noting so")
	fs.DurationVar(&o.checkpointInterval, "checkpoint-interval", time.Minute, "the replicas' checkpoint.interval; after the first cold start, replica A is stopped once it wrote a checkpoint and started again from it, and that second cold start is measured too (0: no checkpoint)")
	fs.BoolVar(&o.keepTestbed, "keep-testbed", false, "keep the testbed's folder (logs, Prometheus data) after the run")
	fs.IntVar(&o.gogc, "gogc", 0, "the replicas' GOGC (0: prescaler's own default)")
	fs.BoolVar(&o.heapProfiles, "heap-profiles", false, "run the replicas with --pprof and keep their heap profiles in --out: every 10s of the cold start, and at its end and the steady state's ends after a GC")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.maxReplicas = int32(maxReplicas)
	switch {
	case o.targets < 1 || o.targets > 9999:
		return o, fmt.Errorf("--targets must be 1..9999, got %d", o.targets)
	case o.days < 1:
		return o, fmt.Errorf("--days must be at least 1, got %d", o.days)
	case o.step < time.Minute || o.step%time.Minute != 0 || (24*time.Hour)%o.step != 0:
		return o, fmt.Errorf("--step must be whole minutes dividing a day, got %s", o.step)
	case o.loops < 1:
		return o, fmt.Errorf("--loops must be at least 1, got %d", o.loops)
	case o.interval < time.Second:
		return o, fmt.Errorf("--interval must be at least 1s, got %s", o.interval)
	case o.gpusPerNode < 1:
		return o, fmt.Errorf("--gpus-per-node must be at least 1, got %d", o.gpusPerNode)
	case o.capacity <= 0:
		return o, fmt.Errorf("--capacity must be positive, got %g", o.capacity)
	case o.leadTime <= 0 || o.leaseDuration < 3*time.Second:
		return o, fmt.Errorf("--lead-time must be positive and --lease-duration at least 3s")
	case o.checkpointInterval != 0 && o.checkpointInterval < o.interval:
		return o, fmt.Errorf("--checkpoint-interval must be 0 or at least --interval %s, got %s", o.interval, o.checkpointInterval)
	case o.gogc < 0:
		return o, fmt.Errorf("--gogc must not be negative, got %d", o.gogc)
	case o.backfillChunk < 0:
		return o, fmt.Errorf("--backfill-chunk must not be negative")
	case o.maxReplicas < 1:
		return o, fmt.Errorf("--hpa-max must be at least 1, got %d", maxReplicas)
	}
	return o, nil
}

// logf prints a progress line with the wall-clock time.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
