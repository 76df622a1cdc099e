package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// GCPercent is the garbage collector's target that `prescaler run` sets
// unless GOGC is set. The daemon's heap is almost all long-lived state
// without pointers (at 1,000 targets of 14 days of 1-minute steps, the
// histories are ~80 MB of the ~160 MB live, the models most of the rest),
// which a collection marks quickly, so collecting at 25 % growth instead
// of Go's default 100 % keeps the resident set near 1.25× the live heap
// instead of 2×; at 1,000 targets, with releaseIdleMemory, it costs about
// 0.04 cores (docs/BENCHMARKS.md).
const GCPercent = 25

// releaseIdleAbove is how much free heap the runtime may keep mapped after
// a loop before Run returns it to the OS. A loop's work (16 targets at once
// reading, deciding and writing, and at start or after a reload the fits'
// calibration buffers, a few MB each) leaves tens of MB of garbage; the
// runtime's background scavenger returns freed memory over minutes and
// keeps about 10 % above the heap's goal meanwhile, so without this the
// resident set would carry each loop's high-water mark until the next.
const releaseIdleAbove = 16 << 20

// releaseIdleMemory collects and returns the free heap to the OS when more
// than releaseIdleAbove of it is still mapped: one extra collection per
// loop at most.
func releaseIdleMemory() {
	free := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(free)
	if free[0].Value.Kind() == metrics.KindUint64 && free[0].Value.Uint64() > releaseIdleAbove {
		debug.FreeOSMemory()
	}
}

// Daemon runs the control loop over every configured target. Targets are
// independent: each has its own forecaster and its own deadline, and one
// target's failure never blocks another.
type Daemon struct {
	src     sources
	metrics *Metrics
	log     *slog.Logger

	// loop is held by a whole RunOnce and by Update, so a config change
	// never alters a target while it is being reconciled; it applies on
	// the next loop.
	loop     sync.Mutex
	mu       sync.Mutex
	cfg      *config.Config
	targets  map[string]*target
	lastLoop atomic.Int64 // unix nanoseconds of the end of the last loop
	// loopBegan is when the loop running now began (unix nanoseconds; 0
	// between loops), for Live.
	loopBegan atomic.Int64
	// status is each target's state as its last loop left it (Status).
	status map[string]TargetStatus

	tuner     Tuner
	tuneQueue chan tuneJob

	// leaving are the targets whose objects the next loop gives back: they
	// left the config, were re-pointed at another object, or went to
	// shadow mode. sweepDue asks that loop to sweep for objects no active
	// target writes to (see sweep.go). Only the loop, which runs on the
	// leader alone, writes them back.
	leaving  []config.Target
	sweepDue bool
	sweeper  Sweeper
	// placeholders keeps and sweeps placeholder pods (nil: none allowed).
	placeholders PlaceholderSink

	// standby makes the loop read, fit and decide without writing: a
	// replica waiting for the Lease keeps every model current, so that a
	// takeover decides at once. promoted wakes the loop when it ends.
	standby  atomic.Bool
	promoted chan struct{}

	// background is the context of the backfills (backfill.go), ended when
	// Run returns; backfillSlots bounds those at work at once.
	background     context.Context
	stopBackground context.CancelFunc
	backfillSlots  chan struct{}

	// checkpoints exports the checkpoint's writes and load (nil: none);
	// ledLastLoop is whether the last loop wrote (was the leader's), for
	// the checkpoint written at shutdown.
	checkpoints *CheckpointMetrics
	ledLastLoop atomic.Bool
}

// Options wires a Daemon.
type Options struct {
	Demand   DemandSource
	Capacity CapacitySource
	Startup  StartupSource
	Scaler   Scaler
	// Signals reads latency, GPU utilization and Ready replicas; nil when
	// none are available (no learned capacity, no latency signal).
	Signals SignalSource
	Metrics *Metrics
	Log     *slog.Logger
	// Lag delays reading a demand step until this long after it ends, so
	// its last scrapes have reached Prometheus (about one scrape interval).
	Lag time.Duration
	// Tuner replays targets' histories for slo.overloadBudget; nil: targets
	// keep their configured headroom.
	Tuner Tuner
	// Sweeper lists and gives back the objects prescaler wrote to; nil:
	// only the objects of targets leaving a running config are given back.
	Sweeper Sweeper
	// Nodes reads what node autoscalers may still add; nil: every target
	// is on a fixed pool of nodes.
	Nodes NodeSource
	// Placeholders keeps placeholder pods; nil: a config enabling
	// nodes.placeholders is refused.
	Placeholders PlaceholderSink
	// CheckpointMetrics exports the checkpoint's writes and load; nil:
	// not exported.
	CheckpointMetrics *CheckpointMetrics
}

// tuneQueueSize bounds the replays waiting for the worker; a target whose
// replay does not fit waits for a later loop.
const tuneQueueSize = 64

// New returns a daemon for a validated config.
func New(cfg *config.Config, o Options) (*Daemon, error) {
	if o.Demand == nil || o.Capacity == nil || o.Startup == nil || o.Scaler == nil || o.Metrics == nil {
		return nil, errors.New("daemon: every source, the scaler and the metrics must be set")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{src: sources{demand: o.Demand, capacity: o.Capacity, startup: o.Startup,
		scale: loggedScaler{Scaler: o.Scaler, log: o.Log}, signals: o.Signals, nodes: o.Nodes, placeholders: o.Placeholders, lag: o.Lag},
		metrics: o.Metrics, log: o.Log, targets: map[string]*target{}, tuner: o.Tuner, sweeper: o.Sweeper, placeholders: o.Placeholders,
		promoted: make(chan struct{}, 1), backfillSlots: make(chan struct{}, maxParallelBackfills), checkpoints: o.CheckpointMetrics}
	d.background, d.stopBackground = context.WithCancel(context.Background())
	if o.Tuner != nil {
		d.tuneQueue = make(chan tuneJob, tuneQueueSize)
		d.src.tunes = d.tuneQueue
	}
	if err := d.Update(context.Background(), cfg); err != nil {
		return nil, err
	}
	return d, nil
}

// Update applies a new validated config: new targets start (with a fresh
// history read on their first loop), targets whose forecasting settings
// changed start over, and the objects of targets that left the config, were
// re-pointed or went to shadow mode get their user's values back on the next
// loop, which also sweeps for objects no active target writes to.
func (d *Daemon) Update(ctx context.Context, cfg *config.Config) error {
	d.loop.Lock()
	defer d.loop.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkPlaceholders(cfg); err != nil {
		return err
	}
	next := make(map[string]*target, len(cfg.Targets))
	var commits []func()
	var errs []error
	for _, tc := range cfg.Targets {
		if old, ok := d.targets[tc.Name]; ok && sameModel(old.cfg, tc) {
			commit, err := old.reconfigure(tc)
			if err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", tc.Name, err))
			}
			commits = append(commits, commit)
			next[tc.Name] = old
			continue
		}
		t, err := newTarget(tc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next[tc.Name] = t
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the running config whole
	}
	d.leaving = append(d.leaving, leavingTargets(d.targets, cfg.Targets)...)
	for _, commit := range commits {
		commit()
	}
	for name, old := range d.targets {
		// A target re-pointed at another object drops the series labelled
		// with the old one, as a target that left does.
		if n, kept := next[name]; !kept || n.cfg.Object() != old.cfg.Object() {
			d.metrics.forget(name)
			delete(d.status, name)
		}
	}
	d.cfg, d.targets, d.sweepDue = cfg, next, true
	return nil
}

// leavingTargets are the running targets whose objects no longer get an
// active target's writes under the next config: removed, re-pointed at
// another object, or switched to shadow mode. Their configs, as they ran,
// say which object to give back.
func leavingTargets(running map[string]*target, next []config.Target) []config.Target {
	byName := make(map[string]*config.Target, len(next))
	for i := range next {
		byName[next[i].Name] = &next[i]
	}
	var out []config.Target
	for name, old := range running {
		if old.cfg.Mode == config.ModeShadow {
			continue // it never wrote; the sweep covers an earlier active run
		}
		n, kept := byName[name]
		if kept && n.Object() == old.cfg.Object() && n.Mode != config.ModeShadow {
			continue
		}
		out = append(out, old.cfg)
	}
	return out
}

// giveBack restores the objects of the targets that left, except those an
// active target writes to now (a target re-pointed at an object another
// one left).
func (d *Daemon) giveBack(ctx context.Context) {
	d.mu.Lock()
	leaving := d.leaving
	d.leaving = nil
	active, _ := d.activeObjects()
	d.mu.Unlock()
	var retry []config.Target
	for i := range leaving {
		t := &leaving[i]
		if active[t.Object()] {
			continue
		}
		if _, err := d.src.scale.Restore(ctx, t); err != nil {
			d.log.Error("restore failed for a target leaving the config; retrying next loop", "target", t.Name, "object", t.Object().String(), "err", err)
			retry = append(retry, *t)
		}
	}
	d.mu.Lock()
	d.leaving = append(retry, d.leaving...)
	d.mu.Unlock()
}

// sameModel reports whether a target's forecaster can be kept across a
// config change: same object, same series, same model settings.
func sameModel(a, b config.Target) bool {
	return a.Object() == b.Object() && a.Queries.Demand == b.Queries.Demand && a.Forecast == b.Forecast &&
		a.LeadTime == b.LeadTime && a.ScaleDown.Stabilization == b.ScaleDown.Stabilization
}

// SetStandby switches the loop between writing (false: the leader, or
// leader election off) and standby (true): a standby loop reads, fits and
// decides every target as the leader does, and writes nothing: no floor,
// behavior, restore, Event or placeholder, no sweep. Its outcomes have
// Standby set; it exports no per-target metric and no loop duration, and
// logs nothing per target: those are the leader's. Leaving standby wakes a
// Run waiting for its next tick, so the new leader's first loop starts at
// once, with every model current.
func (d *Daemon) SetStandby(on bool) {
	if was := d.standby.Swap(on); was && !on {
		select {
		case d.promoted <- struct{}{}:
		default:
		}
	}
}

// RunOnce runs one loop over every target at now and returns the outcomes in
// target-name order. Each target gets the context's deadline.
func (d *Daemon) RunOnce(ctx context.Context, now time.Time) []Outcome {
	d.loopBegan.Store(time.Now().UnixNano())
	defer d.loopBegan.Store(0)
	d.loop.Lock()
	defer d.loop.Unlock()
	start := time.Now()
	src := d.src
	if src.standby = d.standby.Load(); src.standby {
		// Announce is the one write a read or a decision may make.
		src.scale = standbyScaler{Scaler: src.scale}
	} else {
		d.giveBack(ctx)
		d.sweep(ctx)
	}
	d.mu.Lock()
	targets := make([]*target, 0, len(d.targets))
	for _, t := range d.targets {
		targets = append(targets, t)
	}
	d.mu.Unlock()
	sort.Slice(targets, func(i, j int) bool { return targets[i].cfg.Name < targets[j].cfg.Name })

	outcomes := make([]Outcome, len(targets))
	var wg sync.WaitGroup
	limit := make(chan struct{}, maxParallelTargets)
	// Everything the loop does to one target runs under that target's
	// mu, so a checkpoint written beside the loop (WriteCheckpoint) takes
	// each record between two moves of its target, never halfway through
	// one. A target waiting for its backfill, then for a slot, holds its
	// lock meanwhile; that wait ends by the loop's deadline, and so does
	// the checkpoint's wait for that target. The backfill itself works on
	// a copy of the target and needs no lock.
	for i, t := range targets {
		wg.Add(1)
		t.mu.Lock()
		b := t.pendingBackfill(d.background, src, now, d.backfillSlots)
		t.mu.Unlock()
		if b != nil {
			// It takes a slot once its history is in, so the warm targets
			// go on meanwhile.
			go func() {
				defer wg.Done()
				t.mu.Lock()
				defer t.mu.Unlock()
				outcomes[i] = t.awaitBackfill(ctx, b, limit, src, now)
			}()
			continue
		}
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			t.mu.Lock()
			defer t.mu.Unlock()
			outcomes[i] = t.reconcile(ctx, src, now)
		}()
	}
	wg.Wait()
	if !src.standby {
		// The leader exports the decisions and logs the problems; a
		// standby's would be the same series twice over.
		for _, o := range outcomes {
			d.metrics.record(o)
			d.noteStatus(o, now)
			d.logOutcome(o)
		}
		d.metrics.loopDuration.Observe(time.Since(start).Seconds())
	}
	d.ledLastLoop.Store(!src.standby)
	d.lastLoop.Store(time.Now().UnixNano())
	return outcomes
}

// maxParallelTargets bounds the targets reconciled at once, so a thousand
// targets do not open a thousand Prometheus queries together.
const maxParallelTargets = 16

// Run loops every config interval until ctx ends; each loop gets a deadline
// of one interval, so a stuck source cannot stall the next loop. Headroom
// replays, history backfills and checkpoint writes run beside the loop.
// With checkpoint.path set, Run first restores the targets from the
// checkpoint, and while its loops write (the leader's) saves them every
// checkpoint.interval, one write at a time, and once more when ctx ends,
// after any write still in flight and before it returns.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.stopBackground()
	if d.tuner != nil {
		go d.tuneWorker(ctx)
	}
	var ckpt checkpointer
	if path := d.Config().Checkpoint.Path; path != "" {
		d.LoadCheckpoint(path, time.Now())
	}
	// Loops begin one interval apart, however long each took (at most an
	// interval: its deadline); a new interval from a reload applies from
	// the next loop.
	interval := d.interval()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		loopCtx, cancel := context.WithTimeout(ctx, interval)
		d.RunOnce(loopCtx, time.Now())
		cancel()
		releaseIdleMemory()
		cp := d.Config().Checkpoint
		if now := time.Now(); ckpt.due(cp, d.ledLastLoop.Load(), now) {
			// Beside the next loops: the write takes each target's
			// record under that target's lock, not the loop's.
			d.checkpointBeside(cp, &ckpt, now)
		}
		if next := d.interval(); next != interval {
			interval = next
			ticker.Reset(interval)
		}
		select {
		case <-ctx.Done():
			// The last write must be the newest: the one in flight, if
			// any, ends first, and nothing writes after this one.
			ckpt.wait()
			if cp := d.Config().Checkpoint; cp.Path != "" && d.ledLastLoop.Load() {
				d.checkpointNow(cp, &ckpt, time.Now())
			}
			return ctx.Err()
		case <-ticker.C:
		case <-d.promoted:
			ticker.Reset(interval)
		}
	}
}

// stuckIntervals is how many intervals one loop may run before Live calls
// it stuck. Every source a loop calls is bounded by its deadline of one
// interval, so a loop still running after several is blocked where no
// deadline reaches (a lock, a call that ignores its context), and only a
// restart frees it.
const stuckIntervals = 5

// Live reports an error when the loop running now began more than
// stuckIntervals intervals ago. The process's /healthz serves it, so the
// liveness probe restarts a pod whose loop is stuck, and the standby takes
// the Lease. Between loops, and on a standby, it is nil.
func (d *Daemon) Live(now time.Time) error {
	began := d.loopBegan.Load()
	if began == 0 {
		return nil
	}
	if age, limit := now.Sub(time.Unix(0, began)), stuckIntervals*d.interval(); age > limit {
		return fmt.Errorf("the loop has been running for %s, more than %d intervals (%s): stuck", age.Round(time.Second), stuckIntervals, limit)
	}
	return nil
}

// Config returns the config in force (the last one Update accepted).
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) interval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration(d.cfg.Interval)
}

// Ready reports an error when the loop has not completed within three
// intervals. The leader's /readyz serves it, so a stalled loop fails the
// readiness probe: the pod is marked not ready (kubectl get pods shows it,
// and its Service stops sending it traffic) instead of silently holding
// stale floors. Readiness never restarts a pod; only a failing liveness
// probe does.
// LastLoopEnd is when the last loop ended, standby or not (zero: none yet).
func (d *Daemon) LastLoopEnd() time.Time {
	if last := d.lastLoop.Load(); last != 0 {
		return time.Unix(0, last)
	}
	return time.Time{}
}

func (d *Daemon) Ready(now time.Time) error {
	last := d.lastLoop.Load()
	if last == 0 {
		return errors.New("no loop completed yet")
	}
	if age, limit := now.Sub(time.Unix(0, last)), 3*d.interval(); age > limit {
		return fmt.Errorf("last loop ended %s ago, more than %s", age.Round(time.Second), limit)
	}
	return nil
}

func (d *Daemon) logOutcome(o Outcome) {
	attrs := []any{"target", o.Target}
	switch {
	case o.Skipped != "" && len(o.Errs) > 0:
		d.log.Warn("target skipped", append(attrs, "why", o.Skipped, "err", errors.Join(o.Errs...))...)
	case o.Skipped != "":
		d.log.Debug("target skipped", append(attrs, "why", o.Skipped)...)
	case o.DemotionChange != "" && o.Demoted:
		d.log.Warn("forecast demoted: reactive scaling", append(attrs, "why", o.DemotionChange, "floor", o.Decision.Floor)...)
	case o.DemotionChange != "":
		d.log.Info("forecast promoted", append(attrs, "why", o.DemotionChange, "floor", o.Decision.Floor)...)
	case len(o.Errs) > 0 || o.WriteErr != nil:
		d.log.Warn("target loop degraded", append(attrs, "reason", string(o.Decision.Reason), "floor", o.Decision.Floor,
			"err", errors.Join(append(o.Errs, o.WriteErr)...))...)
	default:
		d.log.Debug("target decided", append(attrs, "reason", string(o.Decision.Reason), "floor", o.Decision.Floor,
			"shadow", o.Shadow, "lead", o.LeadTime, "capacity", o.Capacity)...)
	}
}

// loggedScaler writes one info line for each call that changed an object:
// a floor or behavior written, or the user's values given back (a target
// that left the config, an object that opted out). A call that changed
// nothing logs nothing, so a steady target is silent at info.
type loggedScaler struct {
	Scaler
	log *slog.Logger
}

func (s loggedScaler) Apply(ctx context.Context, t *config.Target, d scaler.Decision) (WriteReport, error) {
	rep, err := s.Scaler.Apply(ctx, t, d)
	if err == nil && rep.Changed {
		s.log.Info("wrote the floor", targetAttrs(t, "previous_floor", rep.PreviousFloor, "floor", rep.Floor,
			"behavior_changed", rep.BehaviorChanged, "reason", string(d.Reason))...)
	}
	return rep, err
}

func (s loggedScaler) Restore(ctx context.Context, t *config.Target) (WriteReport, error) {
	rep, err := s.Scaler.Restore(ctx, t)
	if err == nil && rep.Changed {
		s.log.Info("gave the object its user's values back", targetAttrs(t, "previous_floor", rep.PreviousFloor, "floor", rep.Floor)...)
	}
	return rep, err
}

// targetAttrs are the log attributes naming a target and its object, then more.
func targetAttrs(t *config.Target, more ...any) []any {
	return append([]any{"target", t.Name}, objectAttrs(t.Object(), more...)...)
}

// objectAttrs are the log attributes naming an HPA or ScaledObject, then more.
func objectAttrs(ref config.ObjectRef, more ...any) []any {
	return append([]any{"namespace", ref.Namespace, "kind", ref.Kind, "object", ref.Name}, more...)
}
