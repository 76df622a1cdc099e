package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prescaler/prescaler/demo/loadgen"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/trace"
)

// demo is one run: the testbed, the world in it, the load and prescaler.
type demo struct {
	o           Options
	out, errOut io.Writer
	dir         string
	tr          trace.Series
	origin      int // trace minute the live run starts at
	env         *testbed.Env
	pods        *pods
	gen         *loadgen.Generator
	// serving is set once the load runs: the custom metrics API and the
	// load generator's /metrics answer from then on.
	serving  atomic.Bool
	handler  atomic.Pointer[http.Handler]
	scrapeAt string // the load generator's address

	// onLaunch, for tests, sees the testbed as soon as it is up.
	onLaunch func(*testbed.Env)
}

// run sets the demo up, runs it live and tears it down; Ctrl-C (ctx ending)
// during the live run still prints the summary.
func (d *demo) run(ctx context.Context) (Summary, error) {
	var err error
	if d.tr, d.origin, err = loadTrace(d.o); err != nil {
		return Summary{}, err
	}
	if d.dir, err = os.MkdirTemp("", "prescaler-demo-"); err != nil {
		return Summary{}, err
	}
	if !d.o.Keep {
		defer os.RemoveAll(d.dir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Summary{}, err
	}
	d.scrapeAt = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(d.serveMetrics), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := d.setUp(ctx); err != nil {
		if d.env != nil {
			d.stopTestbed()
		}
		return Summary{}, err
	}
	defer d.stopTestbed()
	return d.goLive(ctx)
}

// setUp starts the testbed and creates the user's world in it.
func (d *demo) setUp(ctx context.Context) error {
	d.progress("starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, Prometheus)")
	env, err := testbed.Launch(ctx, testbed.Options{
		HPASyncPeriod:   time.Second,
		DelayedPodReady: true,
		Prometheus:      testbed.PrometheusOptions{ScrapeInterval: scrapeInterval, ScrapeTargets: []string{d.scrapeAt}},
		PodMetrics:      d.podMetric,
		KeepDir:         d.o.Keep,
		Logf:            func(format string, args ...any) { d.progress(format, args...) },
	})
	if err != nil {
		return err
	}
	d.env = env
	if d.onLaunch != nil {
		d.onLaunch(env)
	}
	for i := range d.o.Nodes {
		if _, err := env.AddNode(ctx, testbed.GPUNode(fmt.Sprintf("gpu-node-%d", i), int64(d.o.GPUs))); err != nil {
			return err
		}
	}
	d.progress("%d kwok nodes with %d nvidia.com/gpu each are Ready", d.o.Nodes, d.o.GPUs)
	if d.pods, err = watchPods(ctx, env.Client); err != nil {
		return err
	}
	u := unitsFor(d.o)
	w := world{replicas: d.initialReplicas(), maxReplicas: int32(d.o.MaxReplicas), startup: d.o.Startup,
		cpuMetric: d.o.CPUMetric, downWindow: u.guard, policyPeriod: u.step}
	if err := w.seed(ctx, env.Client); err != nil {
		return err
	}
	d.progress("created Deployment %s (1 GPU a pod, %s to start) with %d replicas and HPA %s (min 1, max %d, %s AverageValue %d); waiting for its pods",
		deployment, d.o.Startup, w.replicas, hpaName, w.maxReplicas, loadgen.MetricQueueDepth, queueTarget)
	return d.pods.waitReady(ctx, int(w.replicas))
}

// initialReplicas starts the Deployment where the HPA would have it at the
// start time, so the day does not open with a backlog.
func (d *demo) initialReplicas() int32 {
	peak := 0.0
	for m := d.origin; m < d.origin+10 && m < len(d.tr.Values); m++ {
		peak = math.Max(peak, d.tr.Values[m])
	}
	n := int(math.Ceil(peak / d.o.Capacity))
	return int32(max(1, min(n, d.o.MaxReplicas, d.o.Nodes*d.o.GPUs)))
}

// goLive starts the clock at the live start: backfills the history that led
// up to it, starts the load and prescaler, and shows the run.
func (d *demo) goLive(ctx context.Context) (Summary, error) {
	start := time.Now().Add(restartMargin)
	clock := loadgen.Clock{Origin: start, OriginMinute: float64(d.origin), MinuteEvery: d.o.Speed}
	var err error
	d.gen, err = loadgen.New(loadgen.Config{Trace: d.tr, Clock: clock, ReplicaCapacity: d.o.Capacity,
		ServiceTime: 300 * time.Millisecond, Labels: loadgen.Labels{Namespace: namespace, Service: deployment, Deployment: deployment}})
	if err != nil {
		return Summary{}, err
	}
	if err := d.backfill(ctx, start); err != nil {
		return Summary{}, err
	}
	select {
	case <-ctx.Done():
		return Summary{}, ctx.Err()
	case <-time.After(time.Until(start)):
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.gen.Collector())
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	d.handler.Store(&h)
	d.serving.Store(true)

	liveCtx, stopPrescaler := context.WithCancel(ctx)
	defer stopPrescaler()
	var p *prescalerRun
	if d.o.Prescaler {
		logPath := filepath.Join(d.dir, "prescaler.log")
		log, err := os.Create(logPath)
		if err != nil {
			return Summary{}, err
		}
		defer log.Close()
		if p, err = startPrescaler(liveCtx, d.o, d.dir, d.env.PrometheusURL, d.env.Kubeconfig, log); err != nil {
			return Summary{}, err
		}
		d.progress("prescaler is running (`prescaler run`; log %s%s)", logPath, keptOrNot(d.o.Keep))
	}
	s := d.live(ctx, p)
	stopPrescaler()
	if p != nil {
		if err := p.wait(); err != nil {
			return s, fmt.Errorf("prescaler: %w", err)
		}
	}
	return s, nil
}

func keptOrNot(keep bool) string {
	if keep {
		return ", kept"
	}
	return ", removed at the end unless --keep"
}

// restartMargin is how far ahead of now the live clock starts. Prometheus
// restarts to load the backfilled history, and its target discovery hands
// the scrape loop its targets only about 5 s later: starting the load after
// that makes the backfilled and the scraped counter meet without a gap, which
// prescaler would otherwise see as stale demand.
const restartMargin = 8 * time.Second

// backfill writes the requests counter of the history days into Prometheus,
// on the same clock and as the same series the live scrapes continue. It
// happens here rather than before Prometheus' first start because only now
// is the live start, which fixes the clock, known.
func (d *demo) backfill(ctx context.Context, until time.Time) error {
	from := until.Add(-time.Duration(d.o.HistoryDays) * d.o.day())
	samples := d.gen.History(from, until, scrapeInterval)
	series := testbed.Series{Name: loadgen.MetricRequests, Labels: map[string]string{
		"namespace": namespace, "service": deployment,
		// The labels Prometheus gives the live scrapes of the generator.
		"job": "testbed", "instance": d.scrapeAt,
	}}
	for _, s := range samples {
		series.Samples = append(series.Samples, testbed.Sample{Time: s.Time, Value: s.Value})
	}
	start := time.Now()
	if err := d.env.BackfillPrometheus(ctx, []testbed.Series{series}, ""); err != nil {
		return err
	}
	d.progress("backfilled %d compressed days of %s into Prometheus (%d samples, %s)", d.o.HistoryDays,
		loadgen.MetricRequests, len(samples), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// live advances the load every 50 ms with the Ready pods, prints a line
// every refresh, and ends after the configured days or duration, or when
// ctx ends.
func (d *demo) live(ctx context.Context, p *prescalerRun) Summary {
	clock := traceClock{startMinute: d.tr.Start}
	start := d.gen.Snapshot()
	s := Summary{StartMinute: start.Minute}
	began := time.Now()
	end := start.Minute + d.o.liveMinutes()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// The floor before prescaler's first write is the user's minReplicas.
	prev := &sample{floor: 1, pods: d.pods.counts()}
	last, lastLatency, nextLine := began, start.Latency, began
	fmt.Fprintf(d.out, "\nLive: a trace minute every %s (a day in %s); demand, forecast and queue in requests per trace minute, p95 in trace time.\n",
		d.o.Speed, d.o.day())
	for n := 0; ; {
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.out, "interrupted")
			return d.finish(s, start, began)
		case <-tick.C:
		}
		now := time.Now()
		c := d.pods.counts()
		before := d.gen.Snapshot().Minute
		d.gen.Advance(now, c.Ready)
		snap := d.gen.Snapshot()
		s.tick(now.Sub(last), snap.Minute-before, c, snap, d.o.SLO)
		last = now
		if !now.Before(nextLine) {
			if p != nil {
				if stopped, err := p.stoppedEarly(); stopped {
					d.progress("prescaler stopped: %v; the HPA goes on alone", err)
				}
			}
			cur := d.sample(ctx, p, c, snap, lastLatency)
			lastLatency = snap.Latency
			if n%20 == 0 {
				fmt.Fprintln(d.out, tableHeader)
			}
			fmt.Fprintln(d.out, cur.line(clock))
			s.observe(cur, prev, d.o.Capacity)
			prev, n, nextLine = &cur, n+1, nextLine.Add(d.o.Refresh)
		}
		if snap.Minute >= end || (d.o.Duration > 0 && now.Sub(began) >= d.o.Duration) {
			return d.finish(s, start, began)
		}
	}
}

// sample reads everything a table line shows.
func (d *demo) sample(ctx context.Context, p *prescalerRun, c podCounts, snap loadgen.Snapshot, lastLatency loadgen.Histogram) sample {
	cur := sample{minute: snap.Minute, demand: snap.Demand, pods: c, backlog: snap.Backlog,
		p95: snap.Latency.Sub(lastLatency).Quantile(0.95), dec: decision{next: -1, peak: -1}}
	if p != nil {
		cur.dec = readDecision(ctx, p.metricsURL)
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if hpa, err := d.env.Client.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(hctx, hpaName, metav1.GetOptions{}); err == nil {
		if hpa.Spec.MinReplicas != nil {
			cur.floor = *hpa.Spec.MinReplicas
		}
		cur.desired, cur.current = hpa.Status.DesiredReplicas, hpa.Status.CurrentReplicas
	}
	return cur
}

// finish closes the run's accounts and prints the summary.
func (d *demo) finish(s Summary, start loadgen.Snapshot, began time.Time) Summary {
	end := d.gen.Snapshot()
	s.EndMinute, s.Real = end.Minute, time.Since(began)
	s.Arrived, s.Served, s.Backlog = end.Arrived-start.Arrived, end.Served-start.Served, end.Backlog
	s.Latency = end.Latency.Sub(start.Latency)
	s.print(d.out, traceClock{startMinute: d.tr.Start}, d.o, d.o.Nodes*d.o.GPUs)
	return s
}

// serveMetrics is the load generator's /metrics: 503 until the load runs,
// so Prometheus records nothing before the backfilled history ends.
func (d *demo) serveMetrics(w http.ResponseWriter, r *http.Request) {
	h := d.handler.Load()
	if h == nil {
		http.Error(w, "the load has not started yet", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

// podMetric serves the custom metrics API: each Ready pod's share of the
// queue as ai_request_queue_depth, which the HPA averages.
func (d *demo) podMetric(ns, pod, metric string) (float64, bool) {
	if !d.serving.Load() || ns != namespace || metric != loadgen.MetricQueueDepth || !d.pods.ready(pod) {
		return 0, false
	}
	return d.gen.PodQueueDepth()
}

// stopTestbed stops every process of the testbed and removes its folder
// (unless kept).
func (d *demo) stopTestbed() {
	d.progress("stopping the control plane")
	if err := d.env.Stop(); err != nil {
		d.progress("stop: %v", err)
	}
}

func (d *demo) progress(format string, args ...any) {
	fmt.Fprintf(d.errOut, "demo: "+format+"\n", args...)
}

// loadTrace reads or synthesizes the trace and finds the live start: the
// first minute at the start time of day after the history days.
func loadTrace(o Options) (trace.Series, int, error) {
	var tr trace.Series
	var err error
	if o.Trace != "" {
		tr, err = trace.ReadFile(o.Trace)
	} else {
		so := trace.DefaultSynthOptions()
		so.Days = o.HistoryDays + int(math.Ceil(o.Days)) + 1
		tr, err = trace.Synthesize(so)
	}
	if err != nil {
		return trace.Series{}, 0, err
	}
	if tr.StepMinutes != 1 {
		return trace.Series{}, 0, errors.New("the trace must have one row per minute")
	}
	startOfDay, _ := minuteOfDay(o.Start)
	first := o.HistoryDays * minutesPerDay
	offset := (startOfDay - int((tr.Start+int64(first))%minutesPerDay) + 2*minutesPerDay) % minutesPerDay
	origin := first + offset
	if need := origin + int(math.Ceil(o.liveMinutes())); need > len(tr.Values) {
		return trace.Series{}, 0, fmt.Errorf("the trace has %d minutes; %d history days, the start at %s and %.2f live days need %d",
			len(tr.Values), o.HistoryDays, o.Start, o.Days, need)
	}
	return tr, origin, nil
}
