package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/trace"
)

// The seed is the world prescaler's example configuration describes, on the
// testbed: the ai-inference Deployment (one GPU per pod), inference-hpa on
// ai_request_queue_depth (AverageValue 5, served by the testbed's custom
// metrics API, every pod's queue empty) and CPU 70 %, and the counter
// ai_requests_total{namespace="default",service="ai-inference"} in Prometheus:
// 15 days of synthetic traffic backfilled, then served live on the same
// curve, so config/example.yaml's demand query works unchanged.

// seedHistory is the demand history backfilled: more than the example's 14
// days of forecast history.
const seedHistory = 15 * 24 * time.Hour

// seedLabels are the series' labels, with those the live scrape adds, so the
// backfilled and the scraped samples form one series.
func seedLabels(addr string) map[string]string {
	return map[string]string{"namespace": "default", "service": "ai-inference", "job": "testbed", "instance": addr}
}

// counter integrates the synthetic per-minute demand into a request counter.
type counter struct {
	start time.Time // first minute of the trace
	cum   []float64 // cum[i]: requests before minute i
}

func newCounter(now time.Time) (*counter, error) {
	o := trace.DefaultSynthOptions()
	o.Days = int(seedHistory/(24*time.Hour)) + 30 // history, and a month of live traffic
	start := now.Add(-seedHistory).Truncate(time.Minute)
	o.Start = start.Unix() / 60
	minutes, err := trace.Synthesize(o)
	if err != nil {
		return nil, err
	}
	c := &counter{start: start, cum: make([]float64, minutes.Len()+1)}
	for i, v := range minutes.Values {
		c.cum[i+1] = c.cum[i] + v
	}
	return c, nil
}

// at is the counter's value at t, linear within a minute.
func (c *counter) at(t time.Time) float64 {
	m := t.Sub(c.start).Minutes()
	i := int(m)
	switch {
	case i < 0:
		return 0
	case i >= len(c.cum)-1:
		return c.cum[len(c.cum)-1]
	}
	return c.cum[i] + (m-float64(i))*(c.cum[i+1]-c.cum[i])
}

// seedExporter serves the live counter for Prometheus to scrape.
type seedExporter struct {
	listener net.Listener
	server   *http.Server
	once     sync.Once
}

func newSeedExporter(c *counter) (*seedExporter, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP ai_requests_total Requests received.\n# TYPE ai_requests_total counter\n")
		fmt.Fprintf(w, "ai_requests_total{namespace=%q,service=%q} %.3f\n", "default", "ai-inference", c.at(time.Now()))
	})
	e := &seedExporter{listener: l, server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = e.server.Serve(l) }()
	return e, nil
}

func (e *seedExporter) addr() string { return e.listener.Addr().String() }

func (e *seedExporter) close() { e.once.Do(func() { _ = e.server.Close() }) }

// seedOptions adds the seed's Prometheus history, scrape target and queue
// depth metric to the testbed options.
func seedOptions(o *testbed.Options, c *counter, e *seedExporter, now time.Time) {
	// Every 15 s, as a typical scrape: rate(...[1m]) needs two samples in a minute.
	history := testbed.SeriesFunc("ai_requests_total", seedLabels(e.addr()), now.Add(-seedHistory), now.Add(-15*time.Second),
		15*time.Second, c.at)
	o.Prometheus.History = append(o.Prometheus.History, history)
	o.Prometheus.ScrapeTargets = append(o.Prometheus.ScrapeTargets, e.addr())
	o.PodMetrics = func(namespace, pod, metric string) (float64, bool) {
		return 0, namespace == testbed.SeedNamespace && metric == testbed.SeedQueueMetric
	}
}

// writeEnvFile writes the shell lines that point kubectl, helm and prescaler
// at the testbed, atomically, so a script waiting for the file never reads
// half of it.
func writeEnvFile(path string, env *testbed.Env) error {
	text := fmt.Sprintf("export KUBECONFIG=%s\nexport PROMETHEUS_URL=%s\nexport PATH=%s:$PATH\n",
		env.Kubeconfig, env.PrometheusURL, filepath.Dir(env.Tool("kubectl")))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
