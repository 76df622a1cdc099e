package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prescaler/prescaler/internal/freeport"
	"github.com/prescaler/prescaler/test/testbed"
)

// Metric names read from the replicas.
const (
	mLeader      = "prescaler_leader"
	mLoop        = "prescaler_loop_duration_seconds"
	mLastLoopEnd = "prescaler_last_loop_end_timestamp_seconds"
	mKube        = "prescaler_kube_requests_total"
	mQueries     = "prescaler_collector_queries_sent_total"
	mCPU         = "process_cpu_seconds_total"
	mRSS         = "process_resident_memory_bytes"
	mHeapInuse   = "go_memstats_heap_inuse_bytes"
	mPhase       = "prescaler_target_phase_duration_seconds"
	mQueryErrors = "prescaler_collector_query_errors_total"
)

// run is the whole measurement. Everything it starts is stopped by its
// deferred clean-up, on success, on error and on Ctrl-C alike.
func run(ctx context.Context, o *options, rep *report) (err error) {
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	bin, err := filepath.Abs(o.prescaler)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fmt.Errorf("prescaler binary %s not found: run `make build` (or pass --prescaler)", bin)
	}
	o.prescaler = bin
	if o.out == "" {
		if o.out, err = os.MkdirTemp("", "prescaler-scale-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	rep.Flags.PrescalerBinary, rep.Flags.OutputFolder = bin, o.out
	logf("output in %s", o.out)

	// The demand: real trace shapes, one function for history and live.
	shapes, err := loadShapes(int(o.step / time.Minute))
	if err != nil {
		return err
	}
	demand := newDemandModel(shapes, o.targets, o.capacity, o.seed)
	peaks := 0
	for _, t := range demand.targets {
		peaks += t.peakReplicas
	}
	rep.Flags.PeakReplicasMean = float64(peaks) / float64(o.targets)

	// The exporter's address must be known before Prometheus starts: it is
	// a scrape target in Prometheus' configuration.
	exporterAddr, err := freeport.Addr()
	if err != nil {
		return err
	}
	exp, err := startExporter(exporterAddr, demand)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, exp.stop)

	// 1. The testbed.
	began := time.Now()
	logf("starting the testbed")
	env, err := testbed.Launch(ctx, testbed.Options{
		// Upstream's period: the testbed's 1 s default would have the HPA
		// controller sync a thousand HPAs every second on a 2-core machine,
		// measuring it rather than prescaler.
		HPASyncPeriod: 15 * time.Second,
		KeepDir:       o.keepTestbed,
		Prometheus:    testbed.PrometheusOptions{ScrapeTargets: []string{exporterAddr}},
		Logf:          logf,
	})
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	cleanups = append(cleanups, func() {
		logf("stopping the testbed")
		if err := env.Stop(); err != nil {
			logf("stopping the testbed: %v", err)
		}
	})
	rep.Setup.TestbedSeconds = secs(time.Since(began))

	// 2. Nodes with twice the GPUs the Deployments start with, so that
	// floors above 1 schedule too.
	nodes := (2*o.targets + o.gpusPerNode - 1) / o.gpusPerNode
	rep.Setup.Nodes, rep.Setup.GPUs = nodes, nodes*o.gpusPerNode
	began = time.Now()
	logf("adding %d kwok nodes with %d GPUs each", nodes, o.gpusPerNode)
	if err := addNodes(ctx, env, nodes, int64(o.gpusPerNode)); err != nil {
		return err
	}
	rep.Setup.NodesSeconds = secs(time.Since(began))

	began = time.Now()
	logf("creating %d Deployments and HPAs in namespace %s", o.targets, namespace)
	if err := createFleet(ctx, env.Client, o.targets, o.maxReplicas); err != nil {
		return err
	}
	rep.Setup.ObjectsSeconds = secs(time.Since(began))
	began = time.Now()
	if err := waitPodsRunning(ctx, env.Client, o.targets, 15*time.Minute, logf); err != nil {
		return err
	}
	rep.Setup.PodsRunningSeconds = secs(time.Since(began))
	logf("%d pods Running after %.1fs", o.targets, rep.Setup.PodsRunningSeconds)

	// 3. The history, ending now.
	if err := backfill(ctx, env, o, demand, exporterAddr, rep); err != nil {
		return err
	}

	// 4. The replicas' configs: the same but for the listen address.
	ports, err := freeport.Ports(2)
	if err != nil {
		return err
	}
	var replicas [2]struct{ name, config, log, addr string }
	for i, name := range []string{"a", "b"} {
		r := &replicas[i]
		r.name = name
		r.config, r.log = logPaths(o.out, name)
		r.addr = fmt.Sprintf("127.0.0.1:%d", ports[i])
		if err := writeConfig(r.config, *o, env.PrometheusURL, r.addr); err != nil {
			return err
		}
		if err := checkConfig(ctx, bin, r.config); err != nil {
			return err
		}
	}
	var running []*replica
	cleanups = append(cleanups, func() {
		for _, r := range running {
			r.stop(10 * time.Second)
		}
	})
	start := func(i int) (*replica, error) {
		r, err := startReplica(bin, replicas[i].name, replicas[i].config, env.Kubeconfig, replicas[i].log, replicas[i].addr, o)
		if err == nil {
			running = append(running, r)
			logf("started prescaler %s (pid %d) on %s, log %s", r.name, r.cmd.Process.Pid, r.addr, replicas[i].log)
		}
		return r, err
	}

	// 5. Cold start of replica A alone.
	a, err := start(0)
	if err != nil {
		return err
	}
	if err := coldStart(ctx, a, o, &rep.ColdStart); err != nil {
		return err
	}
	if o.checkpointInterval > 0 {
		// 5b. Replica A again, from the checkpoint it wrote.
		restart := func() (*replica, error) {
			_, log := logPaths(o.out, replicas[0].name+"-restarted")
			r, err := startReplica(bin, replicas[0].name, replicas[0].config, env.Kubeconfig, log, replicas[0].addr, o)
			if err == nil {
				running = append(running, r)
				logf("started prescaler %s again (pid %d), log %s", r.name, r.cmd.Process.Pid, log)
			}
			return r, err
		}
		if a, err = checkpointColdStart(ctx, a, replicas[0].config, restart, o, rep); err != nil {
			return err
		}
	}

	// 6. Replica B on standby, until its models are warm.
	b, err := start(1)
	if err != nil {
		return err
	}
	if err := warmStandby(ctx, b, o, rep); err != nil {
		return err
	}

	// 7. Steady state.
	leader, standby, err := whoLeads(ctx, a, b)
	if err != nil {
		return err
	}
	if err := steadyState(ctx, leader, standby, o, rep); err != nil {
		return err
	}

	// 8. Takeover after a crash of the leader.
	return takeover(ctx, leader, standby, o, rep)
}

// backfill writes the demand history in chunks and loads each into
// Prometheus, timing both.
func backfill(ctx context.Context, env *testbed.Env, o *options, d *demandModel, exporterAddr string, rep *report) error {
	to := time.Now().Truncate(o.step)
	from := to.Add(-time.Duration(o.days) * 24 * time.Hour)
	chunks := backfillChunks(from, to, o.backfillChunk)
	logf("backfilling %d series × %d days at %s in %d files", o.targets, o.days, o.step, len(chunks))
	b := &rep.Backfill
	b.Series, b.Files = o.targets, len(chunks)
	began := time.Now()
	for i, c := range chunks {
		path := filepath.Join(env.Dir, fmt.Sprintf("scale-backfill-%02d.om.txt", i))
		w := time.Now()
		n, err := writeBackfill(path, d, exporterAddr, c[0].Truncate(o.step), c[1], o.step)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		b.WriteSeconds += time.Since(w).Seconds()
		b.Samples += n
		if st, err := os.Stat(path); err == nil {
			b.Bytes += st.Size()
		}
		l := time.Now()
		if err := env.BackfillPrometheus(ctx, nil, path); err != nil {
			return err
		}
		b.LoadSeconds += time.Since(l).Seconds()
		// promtool has made blocks of it; the text is only disk space now.
		_ = os.Remove(path)
		logf("backfill %d/%d: %s .. %s, %d samples", i+1, len(chunks), c[0].UTC().Format(time.RFC3339), c[1].UTC().Format(time.RFC3339), n)
	}
	b.TotalSeconds = secs(time.Since(began))
	b.WriteSeconds, b.LoadSeconds = secs(time.Duration(b.WriteSeconds*1e9)), secs(time.Duration(b.LoadSeconds*1e9))
	logf("backfill done in %.1fs (%d samples)", b.TotalSeconds, b.Samples)
	return nil
}

// coldStart waits until replica A, started alone, lists every target on
// /status with a decision made from a fitted forecast.
func coldStart(ctx context.Context, a *replica, o *options, c *coldStartInfo) error {
	ctx, cancel := context.WithTimeout(ctx, o.coldTimeout)
	defer cancel()
	lastLog, lastMetrics, lastProfile := time.Now(), time.Time{}, time.Now()
	for {
		if a.exited() {
			return fmt.Errorf("prescaler %s exited during its cold start: %v (see its log)", a.name, a.err)
		}
		if time.Since(lastMetrics) >= 5*time.Second {
			if fams, err := a.metrics(ctx); err == nil {
				c.PeakRSSBytes = max(c.PeakRSSBytes, fams.sum(mRSS, nil))
			}
			lastMetrics = time.Now()
		}
		// Without a forced GC: the profile is the heap the runtime's last
		// collection found live, the start-up's as it goes.
		if time.Since(lastProfile) >= 10*time.Second {
			a.keepHeapProfile(ctx, o, fmt.Sprintf("cold-%03.0fs", time.Since(a.started).Seconds()), false)
			lastProfile = time.Now()
		}
		code, st, err := a.status(ctx)
		if err == nil && code == http.StatusOK && len(st.Targets) == o.targets {
			forecast, problems := 0, 0
			listed := true
			for _, t := range st.Targets {
				if t.DecidedAt.IsZero() {
					listed = false
				}
				if len(t.Forecast) > 0 && string(t.Forecast) != "null" {
					forecast++
				}
				if t.Problem != "" {
					problems++
				}
			}
			if listed && c.AllListedSeconds == 0 {
				c.AllListedSeconds = secs(time.Since(a.started))
				logf("cold start: all %d targets listed after %.1fs", o.targets, c.AllListedSeconds)
			}
			if forecast == o.targets {
				c.AllForecastSeconds = secs(time.Since(a.started))
				c.ProblemTargets = problems
				if fams, err := a.metrics(ctx); err == nil {
					c.Loops = fams.histogram(mLoop).count
					c.PeakRSSBytes = max(c.PeakRSSBytes, fams.sum(mRSS, nil))
				}
				c.RSSHighWaterBytes = a.peakRSS()
				a.keepHeapProfile(ctx, o, "cold-end", true)
				logf("cold start: all %d targets forecast after %.1fs (%d loops)", o.targets, c.AllForecastSeconds, c.Loops)
				return nil
			}
			if time.Since(lastLog) >= 15*time.Second {
				logf("cold start: %d of %d targets forecast after %.0fs", forecast, o.targets, time.Since(a.started).Seconds())
				lastLog = time.Now()
			}
		}
		if err := sleep(ctx, time.Second); err != nil {
			return fmt.Errorf("cold start of prescaler %s not complete: %w", a.name, err)
		}
	}
}

// warmStandby waits until replica B has ended its first loop and two more,
// then on until its last two loops sent no single (per-target) query, which
// only history reads and their retries send: then every target has a model.
// A standby that is not warm by --warm-timeout is noted, not fatal: the
// steady state and the takeover are still worth measuring, and what they
// show then is part of the finding.
func warmStandby(ctx context.Context, b *replica, o *options, rep *report) error {
	wctx, cancel := context.WithTimeout(ctx, o.warmTimeout)
	defer cancel()
	type end struct{ at, single float64 }
	var ends []end
	sb := &rep.Standby
	lastLog := time.Now()
	for {
		if b.exited() {
			return fmt.Errorf("prescaler %s exited while warming up: %v (see its log)", b.name, b.err)
		}
		if fams, err := b.metrics(wctx); err == nil {
			at := fams.sum(mLastLoopEnd, nil)
			single := fams.sum(mQueries, func(l map[string]string) bool { return l["kind"] == "single" })
			if at > 0 && (len(ends) == 0 || at != ends[len(ends)-1].at) {
				ends = append(ends, end{at, single})
			}
			n := len(ends)
			sb.LoopsSeen = n
			if n >= 2 {
				sb.SingleQueriesLastLoop = ends[n-1].single - ends[n-2].single
			}
			if n >= 3 && ends[n-1].single == ends[n-3].single {
				sb.Warm, sb.Seconds = true, secs(time.Since(b.started))
				logf("standby %s warm after %.1fs (%d loops seen, %.0f single queries)", b.name, sb.Seconds, n, single)
				return nil
			}
			if time.Since(lastLog) >= 15*time.Second {
				logf("standby %s: %d loops ended, %.0f single queries so far", b.name, n, single)
				lastLog = time.Now()
			}
		}
		if err := sleep(wctx, time.Second); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("standby %s not warm: %w", b.name, ctx.Err())
			}
			if len(ends) < 3 {
				return fmt.Errorf("standby %s ended %d loops in %s, fewer than 3", b.name, len(ends), o.warmTimeout)
			}
			sb.Seconds = secs(time.Since(b.started))
			note := fmt.Sprintf("standby %s was not warm after %s: its last loop still sent %.0f per-target history reads (steady state measured anyway)",
				b.name, o.warmTimeout, sb.SingleQueriesLastLoop)
			rep.Notes = append(rep.Notes, note)
			logf("%s", note)
			return nil
		}
	}
}

// whoLeads returns the replica that holds the Lease and the other.
func whoLeads(ctx context.Context, a, b *replica) (leader, standby *replica, err error) {
	for range 30 {
		fa, errA := a.metrics(ctx)
		fb, errB := b.metrics(ctx)
		if errA == nil && errB == nil {
			la, lb := fa.sum(mLeader, nil), fb.sum(mLeader, nil)
			switch {
			case la == 1 && lb == 0:
				return a, b, nil
			case lb == 1 && la == 0:
				return b, a, nil
			}
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, errors.New("not exactly one replica leads (prescaler_leader)")
}

// usageSampler tracks a replica's peak RSS and its loop ends between the
// two snapshots.
type usageSampler struct {
	r       *replica
	rssMax  float64
	heapMax float64
	ends    map[float64]bool
}

func (s *usageSampler) sample(ctx context.Context) (families, error) {
	fams, _, err := s.sampleKeep(ctx, "")
	return fams, err
}

// sampleKeep samples like sample and, with keep set, writes the page as
// served there: the raw snapshots behind the report, for questions it
// does not answer.
func (s *usageSampler) sampleKeep(ctx context.Context, keep string) (families, []byte, error) {
	fams, page, err := s.r.metricsPage(ctx)
	if err != nil {
		return nil, nil, err
	}
	if keep != "" {
		if err := os.WriteFile(keep, page, 0o644); err != nil {
			logf("keeping %s: %v", keep, err)
		}
	}
	s.rssMax = max(s.rssMax, fams.sum(mRSS, nil))
	s.heapMax = max(s.heapMax, fams.sum(mHeapInuse, nil))
	if at := fams.sum(mLastLoopEnd, nil); at > 0 {
		s.ends[at] = true
	}
	return fams, page, nil
}

// steadyState measures --loops intervals of the pair at work.
func steadyState(ctx context.Context, leader, standby *replica, o *options, rep *report) error {
	samplers := []*usageSampler{{r: leader, ends: map[float64]bool{}}, {r: standby, ends: map[float64]bool{}}}
	var first [2]families
	for i, s := range samplers {
		f, _, err := s.sampleKeep(ctx, filepath.Join(o.out, "metrics-"+s.r.name+"-start.txt"))
		if err != nil {
			return fmt.Errorf("steady state: %w", err)
		}
		first[i] = f
		s.r.keepHeapProfile(ctx, o, "steady-start", true)
	}
	t0 := time.Now()
	window := time.Duration(o.loops) * o.interval
	logf("steady state: measuring %s (%d intervals); leader %s, standby %s", window, o.loops, leader.name, standby.name)
	// One sample per interval, as Prometheus would scrape: more often would
	// add the harness's own load to the leader's big metrics page.
	for time.Since(t0) < window {
		if err := sleep(ctx, min(o.interval, window-time.Since(t0))); err != nil {
			return err
		}
		for _, s := range samplers {
			if s.r.exited() {
				return fmt.Errorf("prescaler %s exited during the steady state: %v", s.r.name, s.r.err)
			}
			if _, err := s.sample(ctx); err != nil {
				logf("steady state: sampling %s: %v", s.r.name, err)
			}
		}
	}
	var last [2]families
	for i, s := range samplers {
		f, _, err := s.sampleKeep(ctx, filepath.Join(o.out, "metrics-"+s.r.name+"-end.txt"))
		if err != nil {
			return fmt.Errorf("steady state: %w", err)
		}
		last[i] = f
		s.r.keepHeapProfile(ctx, o, "steady-end", true)
	}
	wall := time.Since(t0)
	minutes := wall.Minutes()
	st := &steadyInfo{WindowSeconds: secs(wall), Interval: o.interval.Seconds()}
	st.Loops = loopsBetween(first[0].histogram(mLoop), last[0].histogram(mLoop), o.interval)
	usage := func(i int, name string) replicaUsage {
		a, b := first[i], last[i]
		u := replicaUsage{Name: name + " (" + samplers[i].r.name + ")", KubeByVerb: map[string]float64{}}
		u.CPUCores = (b.sum(mCPU, nil) - a.sum(mCPU, nil)) / wall.Seconds()
		u.RSSMaxBytes, u.HeapInuseBytes = samplers[i].rssMax, samplers[i].heapMax
		u.RSSHighWaterBytes = samplers[i].r.peakRSS()
		u.RSSAnonBytes, u.RSSFileBytes = samplers[i].r.rssParts()
		va, vb := a.byLabel(mKube, "verb", nil), b.byLabel(mKube, "verb", nil)
		total, noLW := 0.0, 0.0
		for verb, n := range vb {
			d := n - va[verb]
			if d <= 0 {
				continue
			}
			u.KubeByVerb[verb] = d
			total += d
			if verb != "list" && verb != "watch" {
				noLW += d
			}
		}
		u.KubeRequests = total
		u.KubePerMinute = total / minutes
		u.KubePerTargetPM = total / float64(o.targets) / minutes
		u.KubePerTargetPMNoListWatch = noLW / float64(o.targets) / minutes
		kind := func(k string) func(map[string]string) bool {
			return func(l map[string]string) bool { return l["kind"] == k }
		}
		u.GroupedQueriesPM = (b.sum(mQueries, kind("grouped")) - a.sum(mQueries, kind("grouped"))) / minutes
		u.SingleQueriesPM = (b.sum(mQueries, kind("single")) - a.sum(mQueries, kind("single"))) / minutes
		ea, eb := a.byLabel(mQueryErrors, "target", nil), b.byLabel(mQueryErrors, "target", nil)
		for target, n := range eb {
			if d := n - ea[target]; d > 0 {
				u.QueryErrors += d
				u.FailingTargets++
			}
		}
		u.LoopsEnded = len(samplers[i].ends) - 1
		return u
	}
	st.Leader, st.Standby = usage(0, "leader"), usage(1, "standby")
	st.Leader.LoopsEnded = int(st.Loops.Count)
	patches := func(l map[string]string) bool {
		return l["verb"] == "patch" && l["resource"] == "horizontalpodautoscalers"
	}
	st.FloorWrites = last[0].sum(mKube, patches) - first[0].sum(mKube, patches)
	// Where a leader's loop spends its time, per target: the loop runs
	// maxParallelTargets (16) targets at once, so a loop lasts about the
	// sum over its targets divided by 16 when the CPU keeps up.
	st.LeaderPhaseMs = map[string]float64{}
	pa, pb := first[0].phaseSums(mPhase, "phase"), last[0].phaseSums(mPhase, "phase")
	for phase, v := range pb {
		if n := v[1] - pa[phase][1]; n > 0 {
			st.LeaderPhaseMs[phase] = math.Round((v[0]-pa[phase][0])/n*1e4) / 10
		}
	}
	rep.Steady = st
	if st.Loops.OverInterval > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d of the leader's %d loops ran longer than the %s interval: each loop's deadline is one interval, so targets late in name order lose their reads",
			st.Loops.OverInterval, st.Loops.Count, o.interval))
	}
	for _, u := range []replicaUsage{st.Leader, st.Standby} {
		if u.FailingTargets > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %d targets had failed Prometheus reads in the window (%.0f failures)", u.Name, u.FailingTargets, u.QueryErrors))
		}
	}
	logf("steady state: %d leader loops, p99 %.2fs, mean %.2fs", st.Loops.Count, st.Loops.P99, st.Loops.Mean)
	return nil
}

// takeover kills the leader and waits until the standby leads and has
// decided every target in a loop begun after the kill.
func takeover(ctx context.Context, leader, standby *replica, o *options, rep *report) error {
	t := &takeoverInfo{TargetSeconds: (o.leaseDuration + o.interval).Seconds()}
	rep.Takeover = t
	logf("takeover: SIGKILL to prescaler %s (pid %d)", leader.name, leader.cmd.Process.Pid)
	killed := leader.kill()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+10*(o.leaseDuration+o.interval))
	defer cancel()
	for {
		if standby.exited() {
			return fmt.Errorf("prescaler %s exited during the takeover: %v", standby.name, standby.err)
		}
		code, st, err := standby.status(ctx)
		if err == nil && code == http.StatusOK {
			if t.LeaderAnswerSeconds == 0 {
				t.LeaderAnswerSeconds = secs(time.Since(killed))
				logf("takeover: %s leads after %.1fs", standby.name, t.LeaderAnswerSeconds)
			}
			done := len(st.Targets) == o.targets
			for _, ts := range st.Targets {
				if !ts.DecidedAt.After(killed) {
					done = false
					break
				}
			}
			if done {
				t.AllDecidedSeconds = secs(time.Since(killed))
				for _, ts := range st.Targets {
					if len(ts.Forecast) > 0 && string(ts.Forecast) != "null" {
						t.ForecastTargets++
					}
					if ts.Problem != "" {
						t.ProblemTargets++
					}
				}
				logf("takeover: every target decided after %.1fs", t.AllDecidedSeconds)
				return nil
			}
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("takeover not complete: %w", err)
		}
	}
}
