package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/trace"
)

// demandMetric is the gauge every target's demand query reads: requests per
// minute, the unit replicaCapacity is given in.
const demandMetric = "scale_demand_per_minute"

// shape is one real trace, smoothed to the forecast step: rolled[m] is the
// mean request rate of the step that ends with minute m of the trace, read
// circularly so that a phase shift never runs off the end.
type shape struct {
	name   string
	rolled []float64
	peak   float64
}

// loadShapes reads the two traces the harness alternates between. NASA's
// web logs have sharp peaks and long outages, ServeGen's LLM service a
// smooth evening peak: together they give the forecaster both kinds of
// series a real fleet mixes.
func loadShapes(stepMinutes int) ([]shape, error) {
	dir, err := testtraces.Dir()
	if err != nil {
		return nil, err
	}
	var out []shape
	for _, name := range []string{testtraces.NASA, testtraces.ServeGen} {
		s, err := trace.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if s.StepMinutes != 1 {
			return nil, fmt.Errorf("trace %s: step %dm, want a per-minute trace", name, s.StepMinutes)
		}
		n := len(s.Values)
		if n < stepMinutes {
			return nil, fmt.Errorf("trace %s: %d minutes, shorter than one %dm step", name, n, stepMinutes)
		}
		sh := shape{name: name, rolled: make([]float64, n)}
		for m := range n {
			sum := 0.0
			for k := range stepMinutes {
				// A missing minute reads as no traffic: the traces are
				// zero-filled already, so this only guards a stray NaN.
				if v := s.Values[(m-k+n)%n]; !math.IsNaN(v) {
					sum += v
				}
			}
			sh.rolled[m] = sum / float64(stepMinutes)
			sh.peak = max(sh.peak, sh.rolled[m])
		}
		if sh.peak <= 0 {
			return nil, fmt.Errorf("trace %s holds no traffic", name)
		}
		out = append(out, sh)
	}
	return out, nil
}

// targetDemand is how one target's demand derives from a shape.
type targetDemand struct {
	shape int
	phase int     // minutes the target's copy of the shape is shifted by
	scale float64 // factor from the trace's unit to the target's
	// peakReplicas is what the target's busiest step needs at capacity.
	peakReplicas int
}

// demandModel gives every target's demand at any time, the same function
// for the backfill and for the live exporter, so the history prescaler
// reads and the samples it then scrapes are one continuous series.
type demandModel struct {
	shapes  []shape
	targets []targetDemand
}

// newDemandModel assigns shapes alternately and draws each target's phase
// and peak from seed, so two runs with the same flags see the same fleet.
// Each target is scaled so that its peak step needs 2 to 4 replicas of
// capacity: floors then move between 1 and 4, inside the HPAs' bounds.
func newDemandModel(shapes []shape, n int, capacity float64, seed uint64) *demandModel {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1e))
	d := &demandModel{shapes: shapes, targets: make([]targetDemand, n)}
	for i := range n {
		sh := i % len(shapes)
		peak := 2 + rng.IntN(3)
		d.targets[i] = targetDemand{
			shape: sh,
			phase: rng.IntN(len(shapes[sh].rolled)),
			// A quarter replica below the boundary: the peak needs exactly
			// peakReplicas, not one more by rounding.
			scale:        (float64(peak) - 0.25) * capacity / shapes[sh].peak,
			peakReplicas: peak,
		}
	}
	return d
}

// value is target i's demand per minute for the step ending at t. The step
// that ends at t covers the minutes before it, hence the -1.
func (d *demandModel) value(i int, t time.Time) float64 {
	td := d.targets[i]
	rolled := d.shapes[td.shape].rolled
	n := int64(len(rolled))
	m := (t.Unix()/60 - 1 + int64(td.phase)) % n
	if m < 0 {
		m += n
	}
	// Three decimals are plenty for a rate in requests per minute and keep
	// the backfill file a third smaller.
	return math.Round(td.scale*rolled[m]*1000) / 1000
}

// seriesLabels are the labels the live exporter's samples end up with once
// Prometheus has scraped them (it adds job and instance). The backfill
// writes the same labels, so history and live samples are one series and
// the demand query sees exactly one.
func seriesLabels(exporterAddr, workload string) string {
	return fmt.Sprintf(`{instance=%q,job="testbed",namespace=%q,workload=%q}`, exporterAddr, namespace, workload)
}

// writeBackfill streams the samples of every target over [from, to] at step
// into an OpenMetrics file, series by series, so memory stays flat however
// many samples there are. It returns the number of samples written.
func writeBackfill(path string, d *demandModel, exporterAddr string, from, to time.Time, step time.Duration) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var samples int64
	buf := make([]byte, 0, 256)
	for i := range d.targets {
		prefix := demandMetric + seriesLabels(exporterAddr, workloadName(i)) + " "
		for t := from; !t.After(to); t = t.Add(step) {
			buf = append(buf[:0], prefix...)
			buf = strconv.AppendFloat(buf, d.value(i, t), 'f', -1, 64)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, t.Unix(), 10)
			buf = append(buf, '\n')
			if _, err := w.Write(buf); err != nil {
				_ = f.Close()
				return samples, err
			}
			samples++
		}
	}
	if _, err := w.WriteString("# EOF\n"); err != nil {
		_ = f.Close()
		return samples, err
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return samples, err
	}
	return samples, f.Close()
}

// backfillChunks splits [from, to] into spans whose edges are multiples of
// chunk since the epoch. promtool parses its whole input once per block it
// writes (18 h blocks with the testbed's settings), so one file for two
// weeks is parsed some twenty times; a few days per file cut that to three
// or four passes each. Edges on multiples of 54 h (three blocks) also keep
// the blocks of two files from overlapping, which would leave Prometheus a
// vertical compaction to run during the measurement.
func backfillChunks(from, to time.Time, chunk time.Duration) [][2]time.Time {
	if chunk <= 0 {
		return [][2]time.Time{{from, to}}
	}
	var out [][2]time.Time
	for start := from; !start.After(to); {
		edge := time.UnixMilli((start.UnixMilli()/chunk.Milliseconds() + 1) * chunk.Milliseconds())
		end := edge.Add(-time.Nanosecond)
		if end.After(to) {
			end = to
		}
		out = append(out, [2]time.Time{start, end})
		start = edge
	}
	return out
}

// exporter serves every target's current demand for Prometheus to scrape,
// so the series go on past the backfilled history while prescaler runs.
type exporter struct {
	d   *demandModel
	srv *http.Server
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# TYPE %s gauge\n", demandMetric)
	for i := range e.d.targets {
		fmt.Fprintf(bw, "%s{namespace=%q,workload=%q} %s\n", demandMetric, namespace, workloadName(i),
			strconv.FormatFloat(e.d.value(i, now), 'f', -1, 64))
	}
	_ = bw.Flush()
}

// startExporter listens on addr and serves the demand until stopped.
func startExporter(addr string, d *demandModel) (*exporter, error) {
	e := &exporter{d: d}
	e.srv = &http.Server{Addr: addr, Handler: e, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- e.srv.ListenAndServe() }()
	// A bind failure shows within moments; waiting for it turns a taken
	// port into a clear error instead of a Prometheus that scrapes nothing.
	select {
	case err := <-errc:
		return nil, fmt.Errorf("demand exporter on %s: %w", addr, err)
	case <-time.After(200 * time.Millisecond):
	}
	return e, nil
}

func (e *exporter) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
}
