package daemon

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/trace"
)

// BenchmarkLoop1000Targets is one 15-second loop over 1,000 targets with the
// default forecast settings (1-minute steps, 14 days of history, daily
// refits spread over the day), real forecasting and decision code, and
// in-memory sources, under the daemon's GC setting. It reports CPU seconds
// per loop and the process RSS.
//
//	go test -run '^$' -bench Loop1000 -benchtime 40x ./daemon/
func BenchmarkLoop1000Targets(b *testing.B) {
	const targets = 1000
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent)) // as prescaler run does
	o := trace.DefaultSynthOptions()
	o.Days = 16
	minutes, err := trace.Synthesize(o)
	if err != nil {
		b.Fatal(err)
	}
	var tcs []config.Target
	for i := range targets {
		tc := testTarget(fmt.Sprintf("t%04d", i))
		tc.Forecast.History = config.Duration(14 * 24 * time.Hour)
		tcs = append(tcs, tc)
	}
	demand := &sharedDemand{minutes: minutes}
	d, err := New(testConfig(tcs...), Options{Demand: demand, Capacity: fixedCapacity{n: 100}, Startup: fixedStartup{},
		Scaler: discardScaler{}, Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(minutes.Start*60, 0).UTC().Add(14*24*time.Hour + 9*time.Hour)
	d.RunOnce(context.Background(), now) // backfill and first fits: start-up, not a loop
	releaseIdleMemory()                  // as Run does after each loop

	b.ResetTimer()
	cpuBefore := cpuSeconds()
	for b.Loop() {
		now = now.Add(15 * time.Second)
		d.RunOnce(context.Background(), now)
	}
	cpu := cpuSeconds() - cpuBefore
	b.ReportMetric(cpu/float64(b.N), "cpu-s/loop")
	b.ReportMetric(rssMiB(), "RSS-MiB")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-heap-MiB")
	runtime.KeepAlive(d) // the daemon's state is what the live heap measures
}

// sharedDemand serves the same series to every target (the loop reads it
// without locking: Steps only reads).
type sharedDemand struct{ minutes trace.Series }

func (d *sharedDemand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	s := &synthDemand{minutes: d.minutes}
	return s.Steps(ctx, t, from, to)
}

type discardScaler struct{}

func (discardScaler) State(context.Context, *config.Target) (ScaleState, error) {
	return ScaleState{UserMinReplicas: 1, MaxReplicas: 100, CurrentFloor: 1, CurrentReplicas: 5}, nil
}
func (discardScaler) Apply(context.Context, *config.Target, scaler.Decision) (WriteReport, error) {
	return WriteReport{}, nil
}
func (discardScaler) Restore(context.Context, *config.Target) (WriteReport, error) {
	return WriteReport{}, nil
}
func (discardScaler) Announce(context.Context, *config.Target, bool, string, string) error {
	return nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// rssMiB reads the resident set size from /proc (Linux); 0 elsewhere.
func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
