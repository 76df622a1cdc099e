package app

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/backtest"
	"github.com/prescaler/prescaler/backtest/report"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/trace"
)

// syntheticBacktestDays is the length of the built-in trace the backtest
// uses without --trace: a week of warm-up and a week of evaluation. The
// four-week trace of `prescaler forecast` takes about 13 s to backtest on
// two cores (16 runs of 21 days); two weeks take about 4 s.
const syntheticBacktestDays = 14

// backtestFlags are the raw flag values of `prescaler backtest`.
type backtestFlags struct {
	tracePath       string
	replicaCapacity float64
	peakReplicas    int
	startup         string
	startupJitter   string
	gpus            int
	gpusPerReplica  int
	nodeDelay       string
	gpusPerNode     int
	poolLimitGPUs   int
	minNodes        int
	consolidate     string
	placeholders    bool
	hpaTarget       float64
	minReplicas     int
	maxReplicas     int
	step            string
	season          string
	season2         string
	refit           string
	warmup          string
	quantile        float64
	floorUtil       float64
	grid            bool
	troughs         bool
	tune            bool
	budget          string
	tuneFit         string
	tuneWindow      string
	tuneHPA         float64
	gridHPA         string
	gridQuantiles   string
	gridFloorUtil   string
	queueTarget     float64
	frontier        string
	seed            uint64
	timelinePath    string
	asJSON          bool
	plotPath        string
	plotDay         int
}

// backtestPlan is the validated run: the engine's options and what to write.
type backtestPlan struct {
	opts         backtest.Options
	source       string
	notes        []string // how derived values were derived, for stderr
	timelinePath string
	asJSON       bool
	plotPath     string
	plotDay      int
}

func newBacktestCommand() *cobra.Command {
	f := backtestFlags{}
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Replay a trace through the HPA alone, prescaler, a naive floor and an oracle, and compare them",
		Long: `Replay a per-minute demand trace (CSV "unix_minute,requests") through a simulated GPU
inference Deployment under four policies: the HPA alone (reactive), the HPA with prescaler's
forecast floor (prescaler), a floor from yesterday's demand (yesterday) and perfect foresight
(oracle); and through the HPA alone at target utilizations 0.40 to 0.95, whose Pareto frontier
of overloaded minutes against GPU-hours is the yardstick: any policy can buy fewer overloaded
minutes with more GPUs, so prescaler is compared with the frontier at equal GPU-hours.

With --node-delay the GPUs are not a fixed pool but nodes of --gpus-per-node GPUs that a
node autoscaler (Karpenter) requests for Pending pods, Ready --node-delay later, up to
--pool-limit-gpus (default --gpus), and removes after --consolidate-after empty. GPU-hours
are then the nodes' (from request to removal), the pods' own shown beside them, and prescaler
runs twice more: clamped to the Ready nodes (prescaler-clamped, as the daemon sees a cluster
today) and, with --placeholders, holding the nodes a rise needs with placeholder pods
(prescaler-placeholders); the prescaler run itself asks for new nodes a node delay ahead.

The forecaster learns from the first --warmup; every policy is scored on the rest.
Without --trace a built-in synthetic two-week trace is used (one week of warm-up).
Without --replica-capacity, the capacity is chosen so that the trace's peak minute needs
--peak-replicas replicas at full utilization.`,
		Example: `  prescaler backtest
  prescaler backtest --trace requests.csv --replica-capacity 120 --startup 180s --max-replicas 40 \
    --season2 7d --warmup 14d --timeline timeline.csv --plot backtest.png
  prescaler backtest --node-delay 5m --gpus-per-node 4 --placeholders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := f.plan(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return runBacktest(plan, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.tracePath, "trace", "", "per-minute trace CSV (header unix_minute,requests); empty: built-in synthetic trace")
	fs.Float64Var(&f.replicaCapacity, "replica-capacity", 0, "requests per minute one Ready replica serves (default: derived from --peak-replicas)")
	fs.IntVar(&f.peakReplicas, "peak-replicas", 20, "without --replica-capacity: replicas the trace's peak minute needs at full utilization")
	fs.StringVar(&f.startup, "startup", "180s", "time from scheduling a pod to Ready (image pull, model load)")
	fs.StringVar(&f.startupJitter, "startup-jitter", "0", "spread the start-up time uniformly by ± this much")
	fs.IntVar(&f.gpus, "gpus", 0, "GPUs in the cluster for this Deployment (default: --max-replicas × --gpus-per-replica)")
	fs.IntVar(&f.gpusPerReplica, "gpus-per-replica", 1, "GPUs each replica requests")
	fs.StringVar(&f.nodeDelay, "node-delay", "0", "time from requesting a node to Ready: > 0 provisions nodes for Pending pods, as Karpenter does; 0: a fixed pool of --gpus")
	fs.IntVar(&f.gpusPerNode, "gpus-per-node", backtest.DefaultGPUsPerNode, "with --node-delay: GPUs of one node")
	fs.IntVar(&f.poolLimitGPUs, "pool-limit-gpus", 0, "with --node-delay: the most GPUs the node pool may hold, in whole nodes (default: --gpus)")
	fs.IntVar(&f.minNodes, "min-nodes", 0, "with --node-delay: nodes kept however empty")
	fs.StringVar(&f.consolidate, "consolidate-after", report.Duration(backtest.DefaultConsolidateAfter), "with --node-delay: how long a node stays empty before it is removed (Karpenter's consolidateAfter, WhenEmpty)")
	fs.BoolVar(&f.placeholders, "placeholders", false, "with --node-delay: also run prescaler holding the nodes a rise needs with placeholder pods")
	fs.Float64Var(&f.hpaTarget, "hpa-target-utilization", 0.7, "the HPA's CPU utilization target, in (0, 1]")
	fs.IntVar(&f.minReplicas, "min-replicas", 1, "the user's HPA minReplicas")
	fs.IntVar(&f.maxReplicas, "max-replicas", 0, "the user's HPA maxReplicas (default: twice the replicas the peak minute needs)")
	fs.StringVar(&f.step, "step", "1m", "forecaster step: minutes are summed into steps of this length")
	fs.StringVar(&f.season, "season", "1d", "forecaster season (a multiple of --step)")
	fs.StringVar(&f.season2, "season2", "0", "optional second season, a longer multiple of --season (e.g. 7d); 0 for none")
	fs.StringVar(&f.refit, "refit", "1d", "forecaster refit period")
	fs.StringVar(&f.warmup, "warmup", "7d", "history the forecaster learns from before the evaluation starts")
	fs.Float64Var(&f.quantile, "quantile", 0.9, "demand quantile prescaler's floor covers, in (0, 1)")
	fs.Float64Var(&f.floorUtil, "floor-utilization", 1, "fraction of the replica capacity prescaler's floor plans a replica for, in (0, 1]")
	fs.BoolVar(&f.troughs, "troughs", false, "prescaler cuts the HPA's scale-down stabilization to the lead time in forecast troughs (scaleDown.troughs)")
	fs.BoolVar(&f.tune, "tune", false, "add the tuned run: before each evaluated day, prescaler's headroom is chosen by replaying the days before it (--tune-fit + --tune-window) with every candidate setting and taking the cheapest that met --overload-budget")
	fs.StringVar(&f.budget, "overload-budget", "hpa", "with --tune: overloaded minutes per day tolerated (a duration, e.g. 10m), or \"hpa\": no more than the HPA alone had over the same replay")
	fs.StringVar(&f.tuneFit, "tune-fit", "3d", "with --tune: history the replay's forecaster is fitted on")
	fs.StringVar(&f.tuneWindow, "tune-window", "4d", "with --tune: days replayed after the fit for each choice (--tune-fit + --tune-window must fit in --warmup)")
	fs.Float64Var(&f.tuneHPA, "tune-hpa-target", 0, "with --tune: the HPA's target utilization in the tuned run and its replays, as when the advice is followed (0: --hpa-target-utilization); an \"hpa\" budget still compares with the HPA alone at --hpa-target-utilization")
	fs.BoolVar(&f.grid, "grid", false, "also run prescaler at every HPA target × quantile × floor utilization of --grid-hpa, --grid-quantile and --grid-floor-utilization: prescaler's own frontier")
	fs.StringVar(&f.gridHPA, "grid-hpa", "0.7,0.8,0.9,0.95,1", "comma-separated HPA target utilizations of the --grid runs")
	fs.StringVar(&f.gridQuantiles, "grid-quantile", "0.5,0.7,0.8,0.9,0.95", "comma-separated demand quantiles of the --grid runs")
	fs.StringVar(&f.gridFloorUtil, "grid-floor-utilization", "1", "comma-separated floor utilizations of the --grid runs")
	fs.Float64Var(&f.queueTarget, "queue-target", 5, "the HPA's queue-depth target per pod (0: CPU utilization only)")
	fs.StringVar(&f.frontier, "frontier", "", "comma-separated target utilizations of the reactive frontier runs (default 0.40,0.45,…,0.95); fewer runs are faster but interpolate the frontier coarsely")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the start-up jitter")
	fs.StringVar(&f.timelinePath, "timeline", "", "write every policy's per-minute timeline to this CSV file")
	fs.BoolVar(&f.asJSON, "json", false, "print the whole result as JSON instead of the tables")
	fs.StringVar(&f.plotPath, "plot", "", "write a PNG of one day (and FILE-frontier.png beside it)")
	fs.IntVar(&f.plotDay, "plot-day", 0, "day of the evaluation to plot, 1 for the first (default: the day with the highest demand peak)")
	return cmd
}

// plan validates the flags, alone and against each other and the trace, and
// derives the defaults that depend on the trace. changed reports whether a
// flag was given, which tells an omitted derived flag from an explicit 0.
func (f backtestFlags) plan(changed func(string) bool) (backtestPlan, error) {
	p := backtestPlan{timelinePath: f.timelinePath, asJSON: f.asJSON, plotPath: f.plotPath, plotDay: f.plotDay}
	o := backtest.Options{
		HPATargetUtilization: f.hpaTarget, Quantile: f.quantile, FloorUtilization: f.floorUtil, Troughs: f.troughs, QueueTarget: f.queueTarget,
		GPUsPerReplica: f.gpusPerReplica, Seed: f.seed, Timeline: f.timelinePath != "" || f.plotPath != "",
	}
	checks := []struct {
		bad  bool
		flag string
		val  any
		why  string
	}{
		{!(f.hpaTarget > 0 && f.hpaTarget <= 1), "hpa-target-utilization", f.hpaTarget, "must be in (0, 1]"},
		{!(f.quantile > 0 && f.quantile < 1), "quantile", f.quantile, "must be in (0, 1)"},
		{!(f.floorUtil > 0 && f.floorUtil <= 1), "floor-utilization", f.floorUtil, "must be in (0, 1]"},
		{!(f.queueTarget >= 0) || math.IsInf(f.queueTarget, 0), "queue-target", f.queueTarget, "must be a number ≥ 0"},
		{f.peakReplicas < 1, "peak-replicas", f.peakReplicas, "must be at least 1"},
		{f.gpusPerReplica < 1, "gpus-per-replica", f.gpusPerReplica, "must be at least 1"},
		{f.minReplicas < 1 || f.minReplicas > math.MaxInt32, "min-replicas", f.minReplicas, "must be at least 1"},
		{changed("max-replicas") && (f.maxReplicas < f.minReplicas || f.maxReplicas > math.MaxInt32), "max-replicas", f.maxReplicas,
			fmt.Sprintf("must be at least --min-replicas %d", f.minReplicas)},
		{changed("gpus") && f.gpus < max(1, f.gpusPerReplica), "gpus", f.gpus,
			fmt.Sprintf("must hold at least one replica of --gpus-per-replica %d", f.gpusPerReplica)},
		{changed("replica-capacity") && (!(f.replicaCapacity > 0) || math.IsInf(f.replicaCapacity, 0)), "replica-capacity",
			f.replicaCapacity, "must be a positive number of requests per minute"},
		{f.plotDay < 0, "plot-day", f.plotDay, "must be 1 or more (0: the day with the highest peak)"},
		{changed("plot-day") && f.plotPath == "", "plot-day", f.plotDay, "needs --plot"},
	}
	for _, c := range checks {
		if c.bad {
			return p, fmt.Errorf("--%s %v: %s", c.flag, c.val, c.why)
		}
	}
	var err error
	if f.frontier != "" {
		if o.FrontierUtilizations, err = parseFractions("frontier", f.frontier, false); err != nil {
			return p, err
		}
	}
	if f.grid {
		if o.Grid, err = f.gridPoints(); err != nil {
			return p, err
		}
	}
	if f.tune {
		if o.Tune, err = f.tuneSettings(); err != nil {
			return p, err
		}
	}
	o.MinReplicas = int32(f.minReplicas)

	durations := []struct {
		flag, value string
		dst         *time.Duration
	}{
		{"startup", f.startup, &o.Startup}, {"startup-jitter", f.startupJitter, &o.StartupJitter},
		{"step", f.step, &o.Step}, {"season", f.season, &o.Season}, {"season2", f.season2, &o.Season2},
		{"refit", f.refit, &o.Refit}, {"warmup", f.warmup, &o.Warmup},
	}
	for _, d := range durations {
		if *d.dst, err = parseFlagDuration(d.flag, d.value); err != nil {
			return p, err
		}
		if *d.dst < 0 {
			return p, fmt.Errorf("--%s %s: must not be negative", d.flag, d.value)
		}
	}
	if err := checkBacktestDurations(o, f); err != nil {
		return p, err
	}

	if err := p.loadDemand(f.tracePath, &o); err != nil {
		return p, err
	}
	if warm := int(o.Warmup / time.Minute); warm >= o.Demand.Len() {
		return p, fmt.Errorf("--warmup %s: leaves nothing of the %s trace to evaluate", f.warmup, config.FormatDuration(time.Duration(o.Demand.Len())*time.Minute))
	}
	if err := p.derive(&o, f, changed); err != nil {
		return p, err
	}
	if err := p.nodeOptions(&o, f, changed); err != nil {
		return p, err
	}
	if days := (o.Demand.Len() - int(o.Warmup/time.Minute) + 24*60 - 1) / (24 * 60); f.plotDay > days {
		return p, fmt.Errorf("--plot-day %d: the evaluation has %d days", f.plotDay, days)
	}
	for _, path := range []struct{ flag, path string }{{"timeline", f.timelinePath}, {"plot", f.plotPath}} {
		if path.path == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(path.path)); err != nil || !st.IsDir() {
			return p, fmt.Errorf("--%s %s: the folder %s does not exist", path.flag, path.path, filepath.Dir(path.path))
		}
	}
	// The engine checks everything again; anything left is a bug in the
	// checks above, reported rather than hidden.
	if err := o.Defaults().Validate(); err != nil {
		return p, err
	}
	p.opts = o
	return p, nil
}

// checkBacktestDurations relates the duration flags to each other, naming
// the flags as the user wrote them.
func checkBacktestDurations(o backtest.Options, f backtestFlags) error {
	switch {
	case o.StartupJitter > o.Startup:
		return fmt.Errorf("--startup-jitter %s: must not exceed --startup %s", f.startupJitter, f.startup)
	case o.Step < time.Minute || o.Step%time.Minute != 0:
		return fmt.Errorf("--step %s: must be a whole number of minutes", f.step)
	case o.Season <= 0 || o.Season%o.Step != 0:
		return fmt.Errorf("--season %s: must be a positive multiple of --step %s", f.season, f.step)
	case o.Season2 != 0 && (o.Season2%o.Season != 0 || o.Season2 <= o.Season):
		return fmt.Errorf("--season2 %s: must be a longer multiple of --season %s", f.season2, f.season)
	case o.Refit < o.Step:
		return fmt.Errorf("--refit %s: must be at least --step %s", f.refit, f.step)
	case o.Warmup < o.Step || o.Warmup%o.Step != 0:
		return fmt.Errorf("--warmup %s: must be a positive multiple of --step %s", f.warmup, f.step)
	}
	return nil
}

// loadDemand reads the trace, or synthesizes the built-in one.
func (p *backtestPlan) loadDemand(path string, o *backtest.Options) error {
	if path == "" {
		so := trace.DefaultSynthOptions()
		so.Days = syntheticBacktestDays
		s, err := trace.Synthesize(so)
		if err != nil {
			return err
		}
		o.Demand, p.source = s, fmt.Sprintf("built-in synthetic trace, %d days", so.Days)
		return nil
	}
	s, err := trace.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--trace %s: %w", path, err)
	}
	if s.Len() == 0 {
		return fmt.Errorf("--trace %s: the trace is empty", path)
	}
	o.Demand, p.source = s, fmt.Sprintf("%s, %s", path, config.FormatDuration(time.Duration(s.Len())*time.Minute))
	return nil
}

// derive fills the replica capacity, max replicas and GPUs the user left out,
// from the trace's peak minute (backtest.SizingPeak: isolated outlier minutes
// left out), and notes how.
func (p *backtestPlan) derive(o *backtest.Options, f backtestFlags, changed func(string) bool) error {
	peak, ignored := backtest.SizingPeak(o.Demand.Values)
	if ignored > 0 {
		p.notes = append(p.notes, fmt.Sprintf("peak minute %s requests: %s more than twice the largest 3-minute median left out as outliers",
			fmtCapacity(peak), countOf(ignored, "minute")))
	}
	o.ReplicaCapacity = f.replicaCapacity
	if !changed("replica-capacity") {
		if peak == 0 {
			return errors.New("--replica-capacity: the trace has no demand to derive it from; set it")
		}
		o.ReplicaCapacity = peak / float64(f.peakReplicas)
		p.notes = append(p.notes, fmt.Sprintf("replica capacity %s requests/min: the peak minute (%s requests) needs --peak-replicas %d replicas",
			fmtCapacity(o.ReplicaCapacity), fmtCapacity(peak), f.peakReplicas))
	}
	peakReplicas := max(1, int(math.Ceil(peak/o.ReplicaCapacity-1e-9)))
	o.MaxReplicas = int32(f.maxReplicas)
	if !changed("max-replicas") {
		o.MaxReplicas = int32(max(f.minReplicas, 2*peakReplicas))
		p.notes = append(p.notes, fmt.Sprintf("max replicas %d: twice the %d the peak minute needs", o.MaxReplicas, peakReplicas))
	}
	o.GPUs = f.gpus
	if !changed("gpus") {
		o.GPUs = int(o.MaxReplicas) * f.gpusPerReplica
		p.notes = append(p.notes, fmt.Sprintf("gpus %d: enough for max replicas %d × %d GPU(s)", o.GPUs, o.MaxReplicas, f.gpusPerReplica))
	}
	return nil
}

// nodeOptions reads the elastic pool's flags, after derive (the pool's limit
// defaults to the GPUs), and notes the pool.
func (p *backtestPlan) nodeOptions(o *backtest.Options, f backtestFlags, changed func(string) bool) error {
	delay, err := parseFlagDuration("node-delay", f.nodeDelay)
	if err != nil {
		return err
	}
	if delay <= 0 {
		if delay < 0 {
			return fmt.Errorf("--node-delay %s: must not be negative (0: a fixed pool of --gpus)", f.nodeDelay)
		}
		for _, fl := range f.nodeFlags() {
			if changed(fl.name) {
				return fmt.Errorf("--%s %v: needs --node-delay (nodes provisioned for Pending pods); without it the pool is a fixed --gpus", fl.name, fl.value)
			}
		}
		return nil
	}
	consolidate, err := parseFlagDuration("consolidate-after", f.consolidate)
	if err != nil {
		return err
	}
	limit := f.poolLimitGPUs
	if !changed("pool-limit-gpus") {
		limit = o.GPUs
	}
	checks := []struct {
		bad  bool
		flag string
		val  any
		why  string
	}{
		{consolidate <= 0, "consolidate-after", f.consolidate, "must be positive"},
		{f.gpusPerNode < f.gpusPerReplica, "gpus-per-node", f.gpusPerNode, fmt.Sprintf("must hold at least one replica of --gpus-per-replica %d", f.gpusPerReplica)},
		{limit < f.gpusPerNode, "pool-limit-gpus", limit, fmt.Sprintf("must hold at least one node of --gpus-per-node %d", f.gpusPerNode)},
		{f.minNodes < 0 || f.gpusPerNode > 0 && f.minNodes > limit/f.gpusPerNode, "min-nodes", f.minNodes,
			fmt.Sprintf("must be between 0 and the nodes --pool-limit-gpus %d holds", limit)},
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("--%s %v: %s", c.flag, c.val, c.why)
		}
	}
	o.NodeDelay, o.GPUsPerNode, o.PoolLimitGPUs, o.MinNodes = delay, f.gpusPerNode, limit, f.minNodes
	o.ConsolidateAfter, o.Placeholders = consolidate, f.placeholders
	nodes := limit / f.gpusPerNode
	p.notes = append(p.notes, fmt.Sprintf("node pool: at most %d nodes of %d GPUs (%d replicas), Ready %s after the request, removed %s after they empty",
		nodes, f.gpusPerNode, nodes*(f.gpusPerNode/f.gpusPerReplica), report.Duration(delay), report.Duration(consolidate)))
	return nil
}

// nodeFlags are the elastic pool's flags, which need --node-delay, with
// their values.
func (f backtestFlags) nodeFlags() []struct {
	name  string
	value any
} {
	return []struct {
		name  string
		value any
	}{
		{"gpus-per-node", f.gpusPerNode}, {"pool-limit-gpus", f.poolLimitGPUs}, {"min-nodes", f.minNodes},
		{"consolidate-after", f.consolidate}, {"placeholders", f.placeholders},
	}
}

func fmtCapacity(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// frontierPNGPath is where the frontier plot goes beside the timeline plot:
// backtest.png → backtest-frontier.png.
func frontierPNGPath(path string) string {
	ext := filepath.Ext(path)
	if !strings.EqualFold(ext, ".png") {
		return path + "-frontier.png"
	}
	return strings.TrimSuffix(path, ext) + "-frontier" + ext
}

// runBacktest runs the engine with a progress bar on stderr and writes the
// reports: the tables or JSON on stdout, the timeline and plots to files.
func runBacktest(p backtestPlan, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "backtest: %s\n", p.source)
	for _, n := range p.notes {
		fmt.Fprintf(stderr, "  %s\n", n)
	}
	o := p.opts.Defaults()
	evalMinutes := o.Demand.Len() - int(o.Warmup/time.Minute)
	runs := 4 + len(o.FrontierUtilizations)
	if o.NodeDelay > 0 {
		runs++ // prescaler-clamped
		if o.Placeholders {
			runs++
		}
	}
	progress := report.NewProgress(stderr, evalMinutes*runs, isTerminal(stderr), time.Now)
	o.Progress = progress.Add
	res, err := backtest.Run(o)
	elapsed := progress.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "simulated %d runs × %d minutes in %s\n", runs, evalMinutes, elapsed.Round(10*time.Millisecond))

	if p.timelinePath != "" {
		if err := writeFileWith(p.timelinePath, func(w io.Writer) error { return report.WriteTimeline(w, res) }); err != nil {
			return fmt.Errorf("--timeline %s: %w", p.timelinePath, err)
		}
		fmt.Fprintf(stderr, "wrote %s (%d policies × %d minutes)\n", p.timelinePath, len(res.Policies), res.EvalMinutes)
	}
	if p.plotPath != "" {
		var day int
		err := writeFileWith(p.plotPath, func(w io.Writer) error {
			var err error
			day, err = report.WriteTimelinePNG(w, res, report.PlotOptions{ReplicaCapacity: o.ReplicaCapacity, Day: p.plotDay})
			return err
		})
		if err != nil {
			return fmt.Errorf("--plot %s: %w", p.plotPath, err)
		}
		frontier := frontierPNGPath(p.plotPath)
		if err := writeFileWith(frontier, func(w io.Writer) error { return report.WriteFrontierPNG(w, res) }); err != nil {
			return fmt.Errorf("--plot %s: %w", frontier, err)
		}
		fmt.Fprintf(stderr, "wrote %s (day %d of %d) and %s\n", p.plotPath, day, report.EvalDays(res), frontier)
	}
	if p.asJSON {
		return report.WriteJSON(stdout, res)
	}
	return report.WriteTable(stdout, res)
}

// writeFileWith creates path, lets write fill it, and reports the first
// error of writing or closing.
func writeFileWith(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return write(f)
}

// isTerminal reports whether w is a character device, where a progress bar
// that redraws itself makes sense (not a file, pipe or test buffer).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// gridPoints is every combination of the --grid-* lists.
func (f backtestFlags) gridPoints() ([]backtest.GridPoint, error) {
	hpas, err := parseFractions("grid-hpa", f.gridHPA, false)
	if err != nil {
		return nil, err
	}
	quantiles, err := parseFractions("grid-quantile", f.gridQuantiles, true)
	if err != nil {
		return nil, err
	}
	utils, err := parseFractions("grid-floor-utilization", f.gridFloorUtil, false)
	if err != nil {
		return nil, err
	}
	var points []backtest.GridPoint
	for _, h := range hpas {
		for _, q := range quantiles {
			for _, u := range utils {
				points = append(points, backtest.GridPoint{HPATargetUtilization: h, Headroom: policy.Headroom{Quantile: q, Utilization: u}})
			}
		}
	}
	return points, nil
}

// parseFractions reads a comma-separated list of numbers in (0, 1], or
// (0, 1) when open.
func parseFractions(flag, list string, open bool) ([]float64, error) {
	var out []float64
	for _, field := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
		if err != nil || !(v > 0 && (v < 1 || (!open && v == 1))) {
			domain := "(0, 1]"
			if open {
				domain = "(0, 1)"
			}
			return nil, fmt.Errorf("--%s %s: %q is not a number in %s", flag, list, field, domain)
		}
		out = append(out, v)
	}
	return out, nil
}

// tuneSettings reads --overload-budget, --tune-fit and --tune-window.
func (f backtestFlags) tuneSettings() (*backtest.TuneSettings, error) {
	if !(f.tuneHPA >= 0 && f.tuneHPA <= 1) {
		return nil, fmt.Errorf("--tune-hpa-target %v: must be in (0, 1] (0: --hpa-target-utilization)", f.tuneHPA)
	}
	t := &backtest.TuneSettings{MatchHPA: f.budget == "hpa", HPATargetUtilization: f.tuneHPA}
	if !t.MatchHPA {
		d, err := parseFlagDuration("overload-budget", f.budget)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--overload-budget %s: want overloaded minutes per day as a duration (e.g. 10m) or \"hpa\"", f.budget)
		}
		t.Budget = d.Minutes()
	}
	var err error
	if t.Fit, err = parseFlagDuration("tune-fit", f.tuneFit); err != nil {
		return nil, err
	}
	if t.Window, err = parseFlagDuration("tune-window", f.tuneWindow); err != nil {
		return nil, err
	}
	own := f.hpaTarget
	if f.tuneHPA > 0 {
		own = f.tuneHPA
	}
	t.AdviseTargets = backtest.AdviceTargets(own)
	return t, nil
}
