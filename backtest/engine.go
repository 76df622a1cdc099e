package backtest

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/simulate/cluster"
	"github.com/prescaler/prescaler/simulate/hpa"
)

// Policy names.
const (
	Reactive  = "reactive"
	Prescaler = "prescaler"
	Oracle    = "oracle"
	Yesterday = "yesterday"
	// Perfect is prescaler's policy fed the demand that really came as its
	// forecast: where prescaler misses a target, it tells whether the
	// policy or the forecast is the limit.
	Perfect = "perfect-forecast"
	// Tuned is prescaler with its headroom chosen before each day by Tune
	// on the days before it.
	Tuned = "tuned"
	// Clamped is prescaler on an elastic pool (Options.NodeDelay) seeing
	// only what the Ready nodes hold, as the daemon sees a cluster today:
	// no node lead, nothing provisionable, the floor bounded by those nodes.
	// The prescaler run there is node-aware: the replicas the Ready nodes
	// cannot hold are asked for a node delay earlier, within the pool's
	// limit.
	Clamped = "prescaler-clamped"
	// WithPlaceholders is node-aware prescaler whose nodes are brought up
	// by placeholder pods while the floor covers the start-up time only
	// (Options.Placeholders).
	WithPlaceholders = "prescaler-placeholders"
)

// Summary is one policy's outcome over the evaluation period.
type Summary struct {
	Minutes           int           `json:"minutes"`
	OverloadedMinutes int           `json:"overloaded_minutes"`
	LatePercent       float64       `json:"late_percent"`
	P99Wait           time.Duration `json:"p99_wait_ns"`
	// GPUHours is what the policy costs: on a fixed pool the GPUs the
	// Deployment's pods held (scheduling to deletion); on an elastic pool
	// the nodes' GPUs from their request to their removal, idle or not,
	// which is what is paid for there. Every comparison uses it.
	GPUHours          float64 `json:"gpu_hours"`
	ScaleEvents       int     `json:"scale_events"`
	PendingPodMinutes float64 `json:"pending_pod_minutes"`
	// On an elastic pool only: PodGPUHours are the GPUs the Deployment's
	// pods held (GPUHours on a fixed pool), PlaceholderGPUHours those the
	// placeholder pods held, both part of the nodes' GPUHours; NodesLaunched
	// counts the nodes requested and Preemptions the placeholders the
	// Deployment's pods preempted.
	PodGPUHours         float64 `json:"pod_gpu_hours,omitempty"`
	PlaceholderGPUHours float64 `json:"placeholder_gpu_hours,omitempty"`
	NodesLaunched       int     `json:"nodes_launched,omitempty"`
	Preemptions         int     `json:"placeholder_preemptions,omitempty"`
}

// Row is one minute of one policy, for the timeline.
type Row struct {
	Policy     string
	UnixMinute int64
	Demand     float64
	// Forecast is the one-step mean forecast of this minute's demand made at
	// its start (prescaler only; NaN otherwise).
	Forecast float64
	// Floor is the minReplicas in force; Desired the HPA's last desired
	// count in the minute (the oracle's own count for the oracle).
	Floor, Desired, Replicas, Ready int32
	// Backlog is the requests waiting at the end of the minute.
	Backlog float64
	// Nodes (Ready or launching) and Placeholders at the end of the
	// minute, on an elastic pool; 0 on a fixed one.
	Nodes, Placeholders int32
}

// PolicyResult is one simulated policy.
type PolicyResult struct {
	Policy            string  `json:"policy"`
	TargetUtilization float64 `json:"target_utilization,omitempty"`
	// Headroom is prescaler's setting (prescaler and perfect-forecast runs).
	Headroom *policy.Headroom `json:"headroom,omitempty"`
	Summary  Summary          `json:"summary"`
	Reasons  []Reason         `json:"reasons,omitempty"`
	Timeline []Row            `json:"-"`
	// DailyOverloaded counts the overloaded minutes of each evaluated day.
	DailyOverloaded []int `json:"daily_overloaded_minutes"`
}

// Reason counts the minutes a floor decision had this reason.
type Reason struct {
	Reason  string `json:"reason"`
	Minutes int    `json:"minutes"`
}

// Result holds every policy and the comparison the acceptance asks for.
type Result struct {
	// Policies are reactive (the HPA alone), prescaler, yesterday (a crude
	// floor: yesterday's peak over the next start-up window) and oracle.
	Policies []PolicyResult `json:"policies"`
	// FrontierRuns are the reactive HPA at each FrontierUtilizations target;
	// Frontier is their Pareto frontier.
	FrontierRuns []PolicyResult  `json:"frontier_runs"`
	Frontier     []FrontierPoint `json:"frontier"`
	// GridRuns are prescaler at each of Options.Grid's settings (HPA target
	// × headroom); GridFrontier is their Pareto frontier.
	GridRuns     []PolicyResult  `json:"grid_runs,omitempty"`
	GridFrontier []FrontierPoint `json:"grid_frontier,omitempty"`
	// GridComparisons place each grid run against the reactive frontier
	// (Policy is the run's label).
	GridComparisons []Comparison `json:"grid_comparisons,omitempty"`
	// Cheapest is the grid run with the fewest GPU-hours among those with
	// no more overloaded minutes than the HPA alone at the main target; nil
	// when none qualifies.
	Cheapest *CostComparison `json:"cheapest,omitempty"`
	// Tuning holds the tuned run's daily choices (with Options.Tune).
	Tuning      []TunedDay     `json:"tuning,omitempty"`
	Comparisons []Comparison   `json:"comparisons"`
	EvalStart   int64          `json:"eval_start_unix_minute"`
	EvalMinutes int            `json:"eval_minutes"`
	Options     map[string]any `json:"options"`
	// ElasticNodes is set when the pool was elastic (Options.NodeDelay > 0):
	// every GPUHours is then the nodes'.
	ElasticNodes bool `json:"elastic_nodes,omitempty"`
}

// Comparison places a floor policy against the reactive frontier at equal
// GPU-hours and against the oracle's GPU-hours.
type Comparison struct {
	Policy string `json:"policy"`
	// ReactiveOverload is the frontier's overloaded minutes at the policy's
	// GPU-hours; OK is false outside the frontier's range.
	ReactiveOverload float64 `json:"reactive_overloaded_minutes_at_equal_gpu_hours"`
	OK               bool    `json:"within_frontier"`
	// OverloadRatio is the policy's overloaded minutes / ReactiveOverload.
	OverloadRatio float64 `json:"overload_ratio"`
	// GPUHoursVsOracle is the policy's GPU-hours / the oracle's.
	GPUHoursVsOracle float64 `json:"gpu_hours_vs_oracle"`
}

// Run simulates every policy on the same demand and compares them.
func Run(opts Options) (*Result, error) {
	opts = opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	warm := int(opts.Warmup / time.Minute)
	main := opts.headroom()
	specs := []runSpec{
		{policy: Reactive, utilization: opts.HPATargetUtilization, timeline: opts.Timeline},
		{policy: Prescaler, utilization: opts.HPATargetUtilization, headroom: main, timeline: opts.Timeline},
	}
	for _, name := range opts.nodeRuns() {
		specs = append(specs, runSpec{policy: name, utilization: opts.HPATargetUtilization, headroom: main, timeline: opts.Timeline})
	}
	specs = append(specs,
		runSpec{policy: Perfect, utilization: opts.HPATargetUtilization, headroom: main, timeline: opts.Timeline},
		runSpec{policy: Yesterday, utilization: opts.HPATargetUtilization, timeline: opts.Timeline},
		runSpec{policy: Oracle, timeline: opts.Timeline},
	)
	for _, u := range opts.FrontierUtilizations {
		specs = append(specs, runSpec{policy: Reactive, utilization: u, frontier: true})
	}
	for _, g := range opts.Grid {
		specs = append(specs, runSpec{policy: Prescaler, utilization: g.HPATargetUtilization, headroom: g.Headroom, grid: true})
	}
	var tuning []TunedDay
	if opts.Tune != nil {
		var err error
		if tuning, err = tuneDaily(opts); err != nil {
			return nil, err
		}
		schedule := make([]policy.Headroom, len(tuning))
		for i, d := range tuning {
			schedule[i] = d.Choice.Chosen.Headroom
		}
		specs = append(specs, runSpec{policy: Tuned, utilization: opts.Tune.hpaTarget(opts), schedule: schedule, timeline: opts.Timeline})
	}
	results, err := simulateAll(opts, specs)
	if err != nil {
		return nil, err
	}
	res := &Result{EvalStart: opts.Demand.MinuteAt(warm), EvalMinutes: opts.Demand.Len() - warm, Options: describe(opts),
		ElasticNodes: opts.NodeDelay > 0}
	var points, grid []FrontierPoint
	for i, r := range results {
		switch {
		case specs[i].frontier:
			res.FrontierRuns = append(res.FrontierRuns, r)
			points = append(points, FrontierPoint{Label: "u=" + strconv.FormatFloat(r.TargetUtilization, 'f', 2, 64),
				GPUHours: r.Summary.GPUHours, OverloadedMinutes: float64(r.Summary.OverloadedMinutes)})
		case specs[i].grid:
			res.GridRuns = append(res.GridRuns, r)
			grid = append(grid, FrontierPoint{Label: specs[i].label(), GPUHours: r.Summary.GPUHours,
				OverloadedMinutes: float64(r.Summary.OverloadedMinutes)})
		default:
			res.Policies = append(res.Policies, r)
		}
	}
	res.Frontier = ParetoFrontier(points)
	res.GridFrontier = ParetoFrontier(grid)
	oracle := res.Policy(Oracle)
	for _, name := range append(append([]string{Prescaler}, opts.nodeRuns()...), Perfect, Yesterday, Reactive) {
		res.Comparisons = append(res.Comparisons, compare(*res.Policy(name), res.Frontier, oracle.Summary.GPUHours))
	}
	for i, r := range res.GridRuns {
		c := compare(r, res.Frontier, oracle.Summary.GPUHours)
		c.Policy = grid[i].Label
		res.GridComparisons = append(res.GridComparisons, c)
	}
	res.Cheapest = cheapest(res.GridRuns, grid, res.Policy(Reactive).Summary)
	if tuned := res.Policy(Tuned); tuned != nil {
		res.Comparisons = append(res.Comparisons, compare(*tuned, res.Frontier, oracle.Summary.GPUHours))
		for i := range tuning {
			tuning[i].Overloaded = tuned.DailyOverloaded[i]
		}
		res.Tuning = tuning
	}
	return res, nil
}

// CostComparison is a prescaler setting against the HPA alone: the
// GPU-hours it costs for no more overloaded minutes.
type CostComparison struct {
	Label             string  `json:"label"`
	GPUHours          float64 `json:"gpu_hours"`
	OverloadedMinutes int     `json:"overloaded_minutes"`
	// Baseline is the HPA alone at the main target.
	BaselineGPUHours          float64 `json:"baseline_gpu_hours"`
	BaselineOverloadedMinutes int     `json:"baseline_overloaded_minutes"`
	// GPUHoursRatio is GPUHours / BaselineGPUHours.
	GPUHoursRatio float64 `json:"gpu_hours_ratio"`
}

// cheapest is the grid run with the fewest GPU-hours whose overloaded
// minutes do not exceed the baseline's.
func cheapest(runs []PolicyResult, points []FrontierPoint, baseline Summary) *CostComparison {
	var best *CostComparison
	for i, r := range runs {
		s := r.Summary
		if s.OverloadedMinutes > baseline.OverloadedMinutes || (best != nil && s.GPUHours >= best.GPUHours) {
			continue
		}
		best = &CostComparison{Label: points[i].Label, GPUHours: s.GPUHours, OverloadedMinutes: s.OverloadedMinutes,
			BaselineGPUHours: baseline.GPUHours, BaselineOverloadedMinutes: baseline.OverloadedMinutes,
			GPUHoursRatio: s.GPUHours / baseline.GPUHours}
	}
	return best
}

// simulateAll runs every spec on all cores. Prescaler runs share one
// forecaster per worker, fed in lockstep: the forecast does not depend on
// what the decisions did, so a grid of settings costs one set of fits.
func simulateAll(opts Options, specs []runSpec) ([]PolicyResult, error) {
	groups := groupSpecs(specs, runtime.GOMAXPROCS(0))
	results := make([]PolicyResult, len(specs))
	errs := make([]error, len(groups))
	runAll(len(groups), func(g int) {
		var out []PolicyResult
		out, errs[g] = simulateGroup(opts, specsAt(specs, groups[g]))
		for k, i := range groups[g] {
			if errs[g] == nil {
				results[i] = out[k]
			}
		}
	})
	for g, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("backtest %s: %w", specs[groups[g][0]].policy, err)
		}
	}
	return results, nil
}

// groupSpecs puts every prescaler spec into one of at most workers groups
// and every other spec into a group of its own; a group holds spec indexes.
func groupSpecs(specs []runSpec, workers int) [][]int {
	var prescaler, groups [][]int
	n := 0
	for i, sp := range specs {
		if !sp.forecasts() {
			groups = append(groups, []int{i})
			continue
		}
		if len(prescaler) < workers {
			prescaler = append(prescaler, nil)
		}
		prescaler[n%len(prescaler)] = append(prescaler[n%len(prescaler)], i)
		n++
	}
	return append(prescaler, groups...)
}

func specsAt(specs []runSpec, idx []int) []runSpec {
	out := make([]runSpec, len(idx))
	for k, i := range idx {
		out[k] = specs[i]
	}
	return out
}

// Policy returns the named main policy.
func (r *Result) Policy(name string) *PolicyResult {
	for i := range r.Policies {
		if r.Policies[i].Policy == name {
			return &r.Policies[i]
		}
	}
	return nil
}

func compare(p PolicyResult, frontier []FrontierPoint, oracleGPUHours float64) Comparison {
	c := Comparison{Policy: p.Policy, GPUHoursVsOracle: p.Summary.GPUHours / oracleGPUHours}
	c.ReactiveOverload, c.OK = OverloadAt(frontier, p.Summary.GPUHours)
	if c.OK && c.ReactiveOverload > 0 {
		c.OverloadRatio = float64(p.Summary.OverloadedMinutes) / c.ReactiveOverload
	}
	return c
}

// runAll runs n independent jobs on all cores; results land by index, so the
// outcome does not depend on scheduling.
func runAll(n int, job func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				job(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// nodeRuns are the extra prescaler runs of an elastic pool: clamped to the
// Ready nodes, and with placeholders when asked for.
func (o Options) nodeRuns() []string {
	switch {
	case o.NodeDelay <= 0:
		return nil
	case o.Placeholders:
		return []string{Clamped, WithPlaceholders}
	}
	return []string{Clamped}
}

func describe(o Options) map[string]any {
	d := map[string]any{
		"replica_capacity": o.ReplicaCapacity, "startup": o.Startup.String(), "startup_jitter": o.StartupJitter.String(),
		"gpus": o.GPUs, "gpus_per_replica": o.GPUsPerReplica, "hpa_target_utilization": o.HPATargetUtilization,
		"queue_target": o.QueueTarget, "min_replicas": o.MinReplicas, "max_replicas": o.MaxReplicas,
		"warmup": o.Warmup.String(), "step": o.Step.String(), "season": o.Season.String(), "season2": o.Season2.String(),
		"refit": o.Refit.String(), "quantile": o.Quantile, "floor_utilization": o.FloorUtilization,
		"grid_runs": len(o.Grid),
		"guard":     o.Guard.String(), "max_step_down_percent": o.MaxStepDownPercent, "seed": o.Seed,
	}
	if o.NodeDelay > 0 {
		d["node_delay"], d["gpus_per_node"], d["pool_limit_gpus"] = o.NodeDelay.String(), o.GPUsPerNode, o.PoolLimitGPUs
		d["min_nodes"], d["consolidate_after"], d["placeholders"] = o.MinNodes, o.ConsolidateAfter.String(), o.Placeholders
	}
	return d
}

// runSpec is one simulation to run.
type runSpec struct {
	policy      string
	utilization float64
	headroom    policy.Headroom
	// schedule is the tuned run's headroom for each evaluated day.
	schedule []policy.Headroom
	frontier bool
	grid     bool
	timeline bool
}

// forecasts reports whether the spec reads the shared forecaster.
func (sp runSpec) forecasts() bool {
	switch sp.policy {
	case Prescaler, Tuned, Clamped, WithPlaceholders:
		return true
	}
	return false
}

// nodeView is how a prescaler decision sees an elastic pool.
type nodeView int

const (
	// nodesAware: the Ready nodes, the pool's limit and the node delay, as
	// scaler.Decide's node-aware inputs.
	nodesAware nodeView = iota
	// nodesClamped: what the Ready nodes hold, as a fixed pool.
	nodesClamped
	// nodesPlaceholders: node-aware, the nodes brought up by placeholders.
	nodesPlaceholders
)

func (sp runSpec) nodeView() nodeView {
	switch sp.policy {
	case Clamped:
		return nodesClamped
	case WithPlaceholders:
		return nodesPlaceholders
	}
	return nodesAware
}

// label names a grid run: its HPA target and headroom.
func (sp runSpec) label() string {
	return fmt.Sprintf("u=%.2f q=%.2f f=%.2f", sp.utilization, sp.headroom.Quantile, sp.headroom.Utilization)
}

// simulateGroup replays the evaluation period through each spec's policy,
// minute by minute in lockstep: every minute each policy plans (a floor for
// the HPA, or the oracle's replicas), then four 15-second ticks each run an
// HPA sync and advance the cluster. The prescaler specs of a group share one
// forecaster.
func simulateGroup(opts Options, specs []runSpec) ([]PolicyResult, error) {
	var shared *feeder
	sims := make([]*simulation, len(specs))
	for i, spec := range specs {
		if spec.forecasts() && shared == nil {
			var err error
			if shared, err = newFeeder(opts); err != nil {
				return nil, err
			}
		}
		var err error
		if sims[i], err = newSimulation(opts, spec, shared); err != nil {
			return nil, err
		}
	}
	for m := int(opts.Warmup / time.Minute); m < opts.Demand.Len(); m++ {
		for _, s := range sims {
			if err := s.minute(m); err != nil {
				return nil, fmt.Errorf("minute %d: %w", opts.Demand.MinuteAt(m), err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(len(sims))
		}
	}
	out := make([]PolicyResult, len(sims))
	for i, s := range sims {
		out[i] = s.result()
	}
	return out, nil
}

// simulation is the state of one policy's run.
type simulation struct {
	opts    Options
	spec    runSpec
	warm    int
	start   time.Time
	cluster *cluster.Cluster
	hpa     *hpa.Controller
	hpaSpec hpa.Spec
	planner planner
	desired int32
	// backlog is the requests waiting at the end of the last minute, what
	// the daemon reads as the queue depth.
	backlog float64
	// dailyOverloaded counts overloaded minutes per evaluated day.
	dailyOverloaded []int
	// Buffers of samples, reused every tick.
	pods             []cluster.PodView
	cpuBuf, queueBuf []hpa.PodSample
	sampleMap        map[string][]hpa.PodSample
	podNames         []string
	rows             []Row
	reasons          map[scaler.Reason]int
}

// planner is what sets one policy apart: what it writes at the start of a
// minute, given the demand observed before it.
type planner interface {
	plan(m int, s *simulation) planned
}

// planned is what a policy writes for one minute.
type planned struct {
	// count is the floor (HPA policies) or the replicas (oracle).
	count    int32
	behavior *scaler.Behavior
	// forecast is the one-step forecast to record (NaN: none).
	forecast float64
	reason   scaler.Reason
	// placeholders is the placeholder pods to keep (elastic pools).
	placeholders int32
}

func newSimulation(opts Options, spec runSpec, shared *feeder) (*simulation, error) {
	warm := int(opts.Warmup / time.Minute)
	s := &simulation{opts: opts, spec: spec, warm: warm, start: time.Unix(opts.Demand.MinuteAt(warm)*60, 0).UTC(),
		reasons: map[scaler.Reason]int{}, dailyOverloaded: make([]int, evalDays(opts))}
	initial := s.reactiveReplicas(opts.Demand.Values[warm], spec.utilization)
	if spec.policy == Oracle {
		initial = oraclePlanner{}.plan(warm, s).count
	}
	var err error
	s.cluster, err = cluster.New(clusterConfig(opts), s.start, initial)
	if err != nil {
		return nil, err
	}
	s.desired = initial
	if spec.policy != Oracle {
		if s.hpa, err = hpa.New(hpa.DefaultConfig()); err != nil {
			return nil, err
		}
		s.hpaSpec = hpa.Spec{MinReplicas: opts.MinReplicas, MaxReplicas: opts.MaxReplicas,
			Metrics: []hpa.MetricSpec{hpa.ResourceUtilization("cpu", int32(math.Round(spec.utilization*100)))}}
		if opts.QueueTarget > 0 {
			s.hpaSpec.Metrics = append(s.hpaSpec.Metrics, hpa.PodsMetric(queueMetric, opts.QueueTarget))
		}
	}
	switch spec.policy {
	case Prescaler, Clamped, WithPlaceholders:
		s.planner = &forecastPlanner{feeder: shared, headroom: spec.headroom, floor: opts.MinReplicas}
	case Tuned:
		s.planner = &forecastPlanner{feeder: shared, schedule: spec.schedule, floor: opts.MinReplicas}
	case Perfect:
		target := opts.Target()
		s.planner = &perfectPlanner{settings: target.PolicySettings(), headroom: spec.headroom, floor: opts.MinReplicas}
	case Yesterday:
		s.planner = yesterdayPlanner{}
	case Oracle:
		s.planner = oraclePlanner{}
	}
	return s, err
}

const queueMetric = "ai_request_queue_depth"

// clusterConfig is the simulated Deployment and its GPUs: a fixed pool, or
// an elastic one whose limit is PoolLimitGPUs in whole nodes.
func clusterConfig(o Options) cluster.Config {
	cfg := cluster.Config{
		ReplicaCapacity: o.ReplicaCapacity, Startup: o.Startup, StartupJitter: o.StartupJitter,
		GPUs: o.GPUs, GPUsPerReplica: o.GPUsPerReplica, Seed: o.Seed,
	}
	if o.NodeDelay > 0 {
		cfg.GPUs, cfg.GPUsPerNode = o.poolNodes()*o.GPUsPerNode, o.GPUsPerNode
		cfg.NodeDelay, cfg.MinNodes, cfg.ConsolidateAfter = o.NodeDelay, o.MinNodes, o.ConsolidateAfter
	}
	return cfg
}

// minute simulates minute m (an index into the demand series).
func (s *simulation) minute(m int) error {
	demand := s.opts.Demand.Values[m]
	if math.IsNaN(demand) {
		demand = 0
	}
	forecast := math.NaN()
	if s.planner != nil {
		p := s.planner.plan(m, s)
		forecast = p.forecast
		if p.reason != "" {
			s.reasons[p.reason]++
		}
		if s.spec.policy == Oracle {
			s.desired = p.count
		} else {
			s.hpaSpec.MinReplicas, s.hpaSpec.Behavior = p.count, toHPABehavior(p.behavior)
		}
		// Placeholders change before the floor acts, so that the pods a
		// decision asks for take the room it frees rather than preempting.
		if s.opts.NodeDelay > 0 {
			if err := s.cluster.SetPlaceholders(s.cluster.Now(), p.placeholders); err != nil {
				return err
			}
		}
	}
	ticks := cluster.Config{}.TicksPerMinute()
	var last cluster.TickResult
	for k := 0; k < ticks; k++ {
		now := s.cluster.Now()
		if s.hpa != nil {
			r := s.hpa.Reconcile(now, hpa.Input{Spec: s.hpaSpec, CurrentReplicas: s.cluster.Replicas(), Samples: s.samples()})
			s.desired = r.DesiredReplicas
		}
		if err := s.cluster.SetReplicas(now, s.desired); err != nil {
			return err
		}
		var err error
		if last, err = s.cluster.Advance(demand / float64(ticks)); err != nil {
			return err
		}
	}
	s.backlog = last.Tick.Backlog
	if last.Minute != nil && last.Minute.Overloaded() {
		s.dailyOverloaded[(m-s.warm)/minutesPerDay]++
	}
	if s.spec.timeline && last.Minute != nil {
		row := Row{Policy: s.spec.policy, UnixMinute: s.opts.Demand.MinuteAt(m), Demand: demand,
			Forecast: forecast, Floor: s.hpaSpec.MinReplicas, Desired: s.desired,
			Replicas: last.Minute.Replicas, Ready: int32(last.Minute.Pods.Ready), Backlog: last.Tick.Backlog}
		if s.opts.NodeDelay > 0 {
			pool := s.cluster.Pool()
			row.Nodes, row.Placeholders = int32(pool.ReadyNodes+pool.LaunchingNodes), int32(pool.Placeholders)
		}
		s.rows = append(s.rows, row)
	}
	return nil
}

// samples turns the cluster's pods into what the HPA's metrics pipeline
// would return: cpu utilization (capped at 100 % of the request, as a
// saturated CPU reads) and the queue depth. The buffers are the
// simulation's own, reused every tick: the HPA reads them before the next.
func (s *simulation) samples() map[string][]hpa.PodSample {
	s.pods = s.cluster.PodsInto(s.pods)
	cpu, queue := s.cpuBuf[:0], s.queueBuf[:0]
	for _, p := range s.pods {
		sample := hpa.PodSample{Name: s.podName(p.ID), Ready: p.Ready(), HasValue: p.HasSample}
		if p.Phase == cluster.PhasePending {
			sample.Phase = hpa.PodPending
		}
		// Pods there from the start are "long ago" to the controller.
		if p.Scheduled.After(s.start) {
			sample.StartedAt = p.Scheduled
		}
		if p.ReadySince.After(s.start) {
			sample.ReadySince = p.ReadySince
		}
		c, q := sample, sample
		c.Request = 1
		c.Value = math.Min(p.Utilization, 1)
		q.Value = p.QueueDepth
		cpu, queue = append(cpu, c), append(queue, q)
	}
	s.cpuBuf, s.queueBuf = cpu, queue
	if s.sampleMap == nil {
		s.sampleMap = map[string][]hpa.PodSample{}
	}
	s.sampleMap["cpu"] = cpu
	if s.opts.QueueTarget > 0 {
		s.sampleMap[queueMetric] = queue
	}
	return s.sampleMap
}

// podName is the name of pod id, made once.
func (s *simulation) podName(id int) string {
	for len(s.podNames) <= id {
		s.podNames = append(s.podNames, strconv.Itoa(len(s.podNames)))
	}
	return s.podNames[id]
}

// reactiveReplicas is what the HPA would settle at for a demand: the start
// of every HPA policy, so no policy begins with a cold start.
func (s *simulation) reactiveReplicas(demand, utilization float64) int32 {
	if utilization == 0 {
		utilization = 1
	}
	n := int32(math.Ceil(demand / (s.opts.ReplicaCapacity * utilization)))
	return max(s.opts.MinReplicas, min(n, s.opts.MaxReplicas, s.maxSchedulable()))
}

// maxSchedulable is how many replicas the GPUs can hold. The target is the
// only GPU consumer in the simulated cluster, so on a fixed pool it is also
// how many replicas can run now: its scheduled pods plus what the free GPUs
// hold. On an elastic pool it is what the pool's limit holds.
func (s *simulation) maxSchedulable() int32 {
	if s.opts.NodeDelay > 0 {
		return int32(s.opts.poolNodes()) * s.opts.perNode()
	}
	return int32(s.opts.GPUs / s.opts.GPUsPerReplica)
}

func (s *simulation) result() PolicyResult {
	sum := s.cluster.Summary()
	p99, _ := s.cluster.WaitQuantile(0.99)
	r := PolicyResult{Policy: s.spec.policy, TargetUtilization: s.spec.utilization, Timeline: s.rows, DailyOverloaded: s.dailyOverloaded,
		Summary: Summary{Minutes: sum.Minutes, OverloadedMinutes: sum.OverloadedMinutes, LatePercent: sum.LatePercent,
			P99Wait: p99, GPUHours: sum.GPUHours, ScaleEvents: sum.ScaleEvents, PendingPodMinutes: sum.PendingPodMinutes}}
	if s.opts.NodeDelay > 0 {
		r.Summary.GPUHours, r.Summary.PodGPUHours, r.Summary.PlaceholderGPUHours = sum.NodeGPUHours, sum.GPUHours, sum.PlaceholderGPUHours
		r.Summary.NodesLaunched, r.Summary.Preemptions = sum.NodesLaunched, sum.Preemptions
	}
	switch s.spec.policy {
	case Prescaler, Perfect, Clamped, WithPlaceholders:
		h := s.spec.headroom
		r.Headroom = &h
	}
	for _, reason := range scaler.Reasons() {
		if n := s.reasons[reason]; n > 0 {
			r.Reasons = append(r.Reasons, Reason{Reason: string(reason), Minutes: n})
		}
	}
	return r
}

// toHPABehavior hands the decided behavior to the simulated controller: the
// policies are the same types, the rules gain the simulator's tolerance
// (unset: the controller's own).
func toHPABehavior(b *scaler.Behavior) *hpa.Behavior {
	if b == nil {
		return nil
	}
	rules := func(r *scaler.Rules) *hpa.Rules {
		if r == nil {
			return nil
		}
		return &hpa.Rules{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Policies: r.Policies}
	}
	return &hpa.Behavior{ScaleUp: rules(b.ScaleUp), ScaleDown: rules(b.ScaleDown)}
}

// oracleNeed is the replicas minute m needs at full capacity.
func oracleNeed(opts Options, m int) int32 {
	d := opts.Demand.Values[m]
	if math.IsNaN(d) {
		return 0
	}
	return int32(math.Ceil(d/opts.ReplicaCapacity - 1e-9))
}

// oraclePlanner knows the future: it asks, S ahead, for the replicas each
// minute needs, and gives them up as soon as they are not needed. It is the
// lower bound of GPU-hours for zero overload (GPUs permitting). On an
// elastic pool it also sees the nodes coming: placeholders bring up, a node
// delay before the pods are asked for, the nodes they will need, so the
// pods hold GPUs no longer than on a fixed pool.
type oraclePlanner struct{}

func (oraclePlanner) plan(m int, s *simulation) planned {
	ahead := int(math.Ceil((s.opts.Startup + s.opts.StartupJitter).Minutes()))
	count := max(1, min(oraclePeak(s.opts, m, ahead), s.maxSchedulable()))
	p := planned{count: count, forecast: math.NaN()}
	if s.opts.NodeDelay > 0 {
		nodesAhead := ahead + int(math.Ceil(s.opts.NodeDelay.Minutes()))
		p.placeholders = max(0, min(oraclePeak(s.opts, m, nodesAhead), s.maxSchedulable())-count)
	}
	return p
}

// oraclePeak is the most replicas any minute from m through m+ahead needs.
func oraclePeak(opts Options, m, ahead int) int32 {
	need := int32(0)
	for i := m; i <= min(m+ahead, opts.Demand.Len()-1); i++ {
		need = max(need, oracleNeed(opts, i))
	}
	return need
}

// yesterdayPlanner is the crude floor to beat: yesterday's peak over the
// next start-up window, sized at the HPA's target.
type yesterdayPlanner struct{}

func (yesterdayPlanner) plan(m int, s *simulation) planned {
	const day = 24 * 60
	ahead := int(math.Ceil(s.opts.Startup.Minutes()))
	peak := 0.0
	for i := m - day; i <= m-day+ahead; i++ {
		if i >= 0 && !math.IsNaN(s.opts.Demand.Values[i]) {
			peak = math.Max(peak, s.opts.Demand.Values[i])
		}
	}
	floor := int32(math.Ceil(peak / (s.opts.ReplicaCapacity * s.opts.HPATargetUtilization)))
	return planned{count: max(s.opts.MinReplicas, min(floor, s.opts.MaxReplicas, s.maxSchedulable())), forecast: math.NaN()}
}

// feeder is the daemon's policy.Planner, built from the same settings a
// configured target gets, fed only the past; several prescaler runs read it.
type feeder struct {
	planner *policy.Planner
	stepMin int
	fed     int     // minutes fed to the forecaster
	pending float64 // the requests of the step's minutes so far
}

func newFeeder(opts Options) (*feeder, error) {
	target := opts.Target()
	p, err := policy.New(target.PolicySettings())
	if err != nil {
		return nil, err
	}
	return &feeder{planner: p, stepMin: int(opts.Step / time.Minute)}, nil
}

// feedUntil gives the forecaster every complete step that ends before minute m.
func (f *feeder) feedUntil(m int, opts Options) {
	for ; f.fed < m; f.fed++ {
		v := opts.Demand.Values[f.fed]
		f.pending += v
		if (f.fed+1)%f.stepMin == 0 {
			// A refused step (an implausible outlier) is missing for the
			// forecaster, as in the daemon; the trace reader has already
			// refused non-finite and negative values.
			// The forecaster is fed the step's mean rate per minute, as
			// the daemon's demand query answers it.
			_, _ = f.planner.Observe(f.pending / float64(f.stepMin))
			f.pending = 0
		}
	}
}

// situation is what prescaler's decision at minute m knows besides the
// forecast, as the daemon's adapters would read it from the simulated
// cluster and HPA.
func situation(m, stepMin int, s *simulation, headroom policy.Headroom, floor int32) policy.Situation {
	sit := policy.Situation{
		Elapsed:         time.Duration(m%stepMin) * time.Minute, // since the last complete step
		Lead:            s.opts.Startup,
		ReplicaCapacity: scaler.PerMinute(s.opts.ReplicaCapacity),
		Headroom:        headroom,
		Fresh:           true,
		UserMinReplicas: s.opts.MinReplicas, MaxReplicas: s.opts.MaxReplicas, CurrentFloor: floor,
		CurrentReplicas: s.cluster.Replicas(), CapacityReplicas: s.maxSchedulable(),
		Backlog: s.backlog,
	}
	if s.opts.NodeDelay > 0 {
		s.nodeSituation(&sit)
	}
	return sit
}

// nodeSituation is the room an elastic pool gives, as the daemon would read
// it: CapacityReplicas what the Ready nodes hold (the Deployment's scheduled
// pods and the free room), and, node-aware, what the pool's limit allows
// beyond them, the node delay and the placeholders. A placeholder's room is
// not free room: it holds a node for a rise still ahead, and counting it
// would tell the decision that no node is due, drop the placeholder and
// let the node go before the pods come; the pods take it when they do.
func (s *simulation) nodeSituation(sit *policy.Situation) {
	pool := s.cluster.Pool()
	held := int32(pool.ReadyNodes)*s.opts.perNode() - int32(pool.Placeholders-pool.PendingPlaceholders)
	sit.CapacityReplicas = held
	view := s.spec.nodeView()
	if view == nodesClamped {
		return
	}
	sit.ProvisionableReplicas = s.maxSchedulable() - held
	sit.NodeLead = s.opts.NodeDelay
	sit.Placeholders = view == nodesPlaceholders
}

// forecastPlanner is prescaler at one headroom setting.
type forecastPlanner struct {
	*feeder
	headroom policy.Headroom
	// schedule, when set, is the headroom of each evaluated day.
	schedule []policy.Headroom
	floor    int32
}

func (f *forecastPlanner) plan(m int, s *simulation) planned {
	f.feedUntil(m, s.opts)
	headroom := f.headroom
	if f.schedule != nil {
		headroom = f.schedule[(m-s.warm)/minutesPerDay]
	}
	p := f.planner.Plan(situation(m, f.stepMin, s, headroom, f.floor))
	forecast := math.NaN()
	if model := f.planner.Model(); model != nil {
		forecast = model.Point(1) / float64(f.stepMin)
	}
	d := p.Decision
	f.floor = d.Floor
	return planned{count: d.Floor, behavior: d.Behavior, forecast: forecast, reason: d.Reason, placeholders: d.Placeholders}
}

// perfectPlanner is prescaler's decision fed the demand that really came:
// every forecast step's mean and upper quantile are the step's true demand.
type perfectPlanner struct {
	settings policy.Settings
	headroom policy.Headroom
	floor    int32
}

func (p *perfectPlanner) plan(m int, s *simulation) planned {
	stepMin := int(p.settings.Step / time.Minute)
	sit := situation(m, stepMin, s, p.headroom, p.floor)
	n := p.settings.ForecastSteps(sit)
	origin := m - m%stepMin
	steps := make([]scaler.Step, n)
	for h := range steps {
		// The step's demand is the mean rate over its minutes, as the
		// forecaster is fed.
		sum := 0.0
		for i := origin + h*stepMin; i < origin+(h+1)*stepMin && i < s.opts.Demand.Len(); i++ {
			if v := s.opts.Demand.Values[i]; !math.IsNaN(v) {
				sum += v
			}
		}
		mean := scaler.PerMinute(sum / float64(stepMin))
		steps[h] = scaler.Step{Mean: mean, Upper: mean}
	}
	d := policy.Decide(p.settings, sit, steps).Decision
	p.floor = d.Floor
	return planned{count: d.Floor, behavior: d.Behavior, forecast: math.NaN(), reason: d.Reason, placeholders: d.Placeholders}
}
