package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prescaler/prescaler/backtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// evalStart is Monday 2025-03-10 00:00 UTC, in unix minutes.
const evalStart = 29_026_080

// fixedResult is a small Result written by hand: two days, the four
// policies, three frontier runs (one dominated), and comparisons inside,
// outside and at the zero end of the frontier.
func fixedResult() *backtest.Result {
	sum := func(over int, late float64, wait time.Duration, gpuh float64, events int, pending float64) backtest.Summary {
		return backtest.Summary{Minutes: 2880, OverloadedMinutes: over, LatePercent: late, P99Wait: wait,
			GPUHours: gpuh, ScaleEvents: events, PendingPodMinutes: pending}
	}
	res := &backtest.Result{
		EvalStart:   evalStart,
		EvalMinutes: 2880,
		Policies: []backtest.PolicyResult{
			{Policy: backtest.Reactive, TargetUtilization: 0.7, Summary: sum(42, 1.234, 12500*time.Millisecond, 480.25, 61, 30.5)},
			{Policy: backtest.Prescaler, TargetUtilization: 0.7, Summary: sum(7, 0.118, 850*time.Millisecond, 495.5, 90, 12),
				Reasons: []backtest.Reason{{Reason: "forecast", Minutes: 2700}, {Reason: "scale_down_guard", Minutes: 180}}},
			{Policy: backtest.Yesterday, TargetUtilization: 0.7, Summary: sum(20, 0.5, 3*time.Second, 700, 120, 40)},
			{Policy: backtest.Oracle, Summary: sum(0, 0, 0, 350, 300, 0)},
		},
		FrontierRuns: []backtest.PolicyResult{
			{Policy: backtest.Reactive, TargetUtilization: 0.9, Summary: sum(300, 8.5, 95*time.Second, 400, 50, 25)},
			{Policy: backtest.Reactive, TargetUtilization: 0.5, Summary: sum(2, 0.01, 0, 600, 70, 31)},
			{Policy: backtest.Reactive, TargetUtilization: 0.7, Summary: sum(42, 1.234, 12500*time.Millisecond, 480.25, 61, 30.5)},
			{Policy: backtest.Reactive, TargetUtilization: 0.6, Summary: sum(45, 1.3, 13*time.Second, 520, 66, 30)},
		},
		Frontier: []backtest.FrontierPoint{
			{Label: "u=0.90", GPUHours: 400, OverloadedMinutes: 300},
			{Label: "u=0.70", GPUHours: 480.25, OverloadedMinutes: 42},
			{Label: "u=0.50", GPUHours: 600, OverloadedMinutes: 2},
		},
		Comparisons: []backtest.Comparison{
			{Policy: backtest.Prescaler, ReactiveOverload: 37.0, OK: true, OverloadRatio: 7 / 37.0, GPUHoursVsOracle: 495.5 / 350},
			{Policy: backtest.Yesterday, OK: false, GPUHoursVsOracle: 2},
			{Policy: backtest.Reactive, ReactiveOverload: 42, OK: true, OverloadRatio: 1, GPUHoursVsOracle: 480.25 / 350},
		},
		Options: map[string]any{
			"replica_capacity": 50.0, "startup": "3m0s", "startup_jitter": "0s", "gpus": 40, "gpus_per_replica": 1,
			"hpa_target_utilization": 0.7, "queue_target": 5.0, "min_replicas": int32(1), "max_replicas": int32(40),
			"warmup": "168h0m0s", "step": "1m0s", "season": "24h0m0s", "season2": "0s", "refit": "24h0m0s",
			"quantile": 0.9, "floor_utilization": 0.7, "guard": "5m0s", "max_step_down_percent": int32(10), "seed": uint64(1),
		},
	}
	return res
}

// withTimeline adds per-minute rows to the main policies: a daily demand
// with its highest minute on day 2 at 18:00.
func withTimeline(res *backtest.Result) *backtest.Result {
	for i := range res.Policies {
		p := &res.Policies[i]
		for m := range res.EvalMinutes {
			demand := 300 + 200*math.Sin(2*math.Pi*float64(m%1440)/1440)
			if m == 1440+18*60 {
				demand = 1500
			}
			ready := int32(math.Ceil(demand / 50 / 0.7))
			fc := math.NaN()
			if p.Policy == backtest.Prescaler && m > 0 {
				fc = demand + 0.5
			}
			p.Timeline = append(p.Timeline, backtest.Row{Policy: p.Policy, UnixMinute: res.EvalStart + int64(m),
				Demand: demand, Forecast: fc, Floor: 1, Desired: ready, Replicas: ready, Ready: ready})
		}
	}
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, fixedResult()); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", buf.Bytes())
}

// TestWriteTableContents checks what the golden file is meant to hold, so
// that an -update cannot silently bless a broken table.
func TestWriteTableContents(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, fixedResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"2880 minutes (2.0 days) from 2025-03-10 00:00 to 2025-03-12 00:00 UTC",
		"start-up 3m,", "warmup 7d", // durations in days where whole
		"overloaded min", "GPU-h/oracle", "pending-pod min",
		"12.5s", "850ms", "1m35s", // p99 waits
		"outside range", "0.19", // yesterday outside the frontier, prescaler's ratio 7/37
		"forecast 2700 (93.8%), scale_down_guard 180 (6.2%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "season2") {
		t.Errorf("an unset season2 is shown:\n%s", out)
	}
	lines := strings.Split(out, "\n")
	for _, name := range []string{backtest.Reactive, backtest.Prescaler, backtest.Yesterday, backtest.Oracle} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, "  "+name+" ")
		}
		if !found {
			t.Errorf("no row for %s:\n%s", name, out)
		}
	}
	// Pareto marks: 0.9, 0.7 and 0.5 are on the frontier, 0.6 (more GPUs and
	// more overload than 0.7) is not.
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(l, "  0.") {
			onPareto := strings.HasSuffix(l, "*")
			if want := f[0] != "0.60"; onPareto != want {
				t.Errorf("frontier row %q: Pareto mark %v, want %v", l, onPareto, want)
			}
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing blanks in %q", l)
		}
	}
	// The numeric columns are right-aligned: the header and every policy
	// row end at the same column.
	head := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "  policy ") {
			head = i
			break
		}
	}
	var ends []int
	for _, l := range lines[head : head+5] {
		ends = append(ends, len([]rune(l)))
	}
	for _, e := range ends {
		if e != ends[0] {
			t.Errorf("policy rows end at columns %v, want one column:\n%s", ends, out)
			break
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Wait(0), "0s"},
		{Wait(850 * time.Millisecond), "850ms"},
		{Wait(12500 * time.Millisecond), "12.5s"},
		{Wait(95*time.Second + 400*time.Millisecond), "1m35s"},
		{Duration(7 * 24 * time.Hour), "7d"},
		{Duration(3 * time.Minute), "3m"},
		{Duration(90 * time.Second), "1m30s"},
		{Duration(36 * time.Hour), "36h"},
		{Duration(0), "0s"},
		{num(math.NaN(), 2), "n/a"},
		{num(math.Inf(1), 2), "n/a"},
		{num(1.005, 1), "1.0"},
		{trimNum(47.55), "47.55"},
		{trimNum(40), "40"},
		{trimNum(2.5), "2.5"},
		{tickText(600000), "600k"},
		{tickText(2500), "2500"},
		{tickText(12500), "12500"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	res := fixedResult()
	// Numbers JSON lacks must not fail the document.
	res.Policies[3].Summary.LatePercent = math.NaN()
	res.Comparisons[0].GPUHoursVsOracle = math.Inf(1)
	res.Options["quantile"] = math.NaN()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		EvalStart   string `json:"eval_start"`
		EvalMinutes int    `json:"eval_minutes"`
		Policies    []struct {
			Policy  string `json:"policy"`
			Summary struct {
				LatePercent    *float64 `json:"late_percent"`
				P99WaitSeconds float64  `json:"p99_wait_seconds"`
				P99Wait        string   `json:"p99_wait"`
			} `json:"summary"`
			Reasons []backtest.Reason `json:"reasons"`
		} `json:"policies"`
		FrontierRuns []json.RawMessage `json:"frontier_runs"`
		Frontier     []struct {
			Label    string  `json:"label"`
			GPUHours float64 `json:"gpu_hours"`
		} `json:"frontier"`
		Comparisons []struct {
			Policy           string   `json:"policy"`
			ReactiveOverload *float64 `json:"reactive_overloaded_minutes_at_equal_gpu_hours"`
			OK               bool     `json:"within_frontier"`
			OverloadRatio    *float64 `json:"overload_ratio"`
			GPUHoursVsOracle *float64 `json:"gpu_hours_vs_oracle"`
		} `json:"comparisons"`
		Options map[string]any `json:"options"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if doc.EvalStart != "2025-03-10T00:00:00Z" || doc.EvalMinutes != 2880 {
		t.Errorf("eval start %q, minutes %d", doc.EvalStart, doc.EvalMinutes)
	}
	if len(doc.Policies) != 4 || len(doc.FrontierRuns) != 4 || len(doc.Frontier) != 3 || len(doc.Comparisons) != 3 {
		t.Fatalf("counts: %d policies, %d frontier runs, %d frontier points, %d comparisons",
			len(doc.Policies), len(doc.FrontierRuns), len(doc.Frontier), len(doc.Comparisons))
	}
	if s := doc.Policies[0].Summary; s.P99WaitSeconds != 12.5 || s.P99Wait != "12.5s" {
		t.Errorf("reactive p99 wait %v s, %q; want 12.5 s", s.P99WaitSeconds, s.P99Wait)
	}
	if doc.Policies[3].Summary.LatePercent != nil {
		t.Errorf("NaN late percent encoded as %v, want null", *doc.Policies[3].Summary.LatePercent)
	}
	if len(doc.Policies[1].Reasons) != 2 {
		t.Errorf("prescaler reasons %v", doc.Policies[1].Reasons)
	}
	if doc.Frontier[1].Label != "u=0.70" || doc.Frontier[1].GPUHours != 480.25 {
		t.Errorf("frontier point %+v", doc.Frontier[1])
	}
	pre, yest := doc.Comparisons[0], doc.Comparisons[1]
	if pre.OverloadRatio == nil || math.Abs(*pre.OverloadRatio-7.0/37) > 1e-12 || pre.GPUHoursVsOracle != nil {
		t.Errorf("prescaler comparison %+v: want ratio 7/37 and a null (infinite) GPU ratio", pre)
	}
	if yest.OK || yest.ReactiveOverload != nil || yest.OverloadRatio != nil {
		t.Errorf("yesterday outside the frontier: %+v, want nulls", yest)
	}
	if v, ok := doc.Options["quantile"]; !ok || v != nil {
		t.Errorf("NaN option encoded as %v, want null", v)
	}
}

func TestWriteTimeline(t *testing.T) {
	res := withTimeline(fixedResult())
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if lines[0] != TimelineHeader {
		t.Errorf("header %q", lines[0])
	}
	if got, want := len(lines)-1, 4*res.EvalMinutes; got != want {
		t.Errorf("%d rows, want %d", got, want)
	}
	// Rows run policy by policy; the rows below are worked out from
	// withTimeline: demand 300 + 200 sin(2πm/1440), ready ⌈demand/35⌉, and a
	// prescaler forecast of demand + 0.5 from the second minute.
	n := res.EvalMinutes
	for _, c := range []struct {
		line int
		want string
	}{
		{1, "reactive,29026080,300,,1,9,9,9"},                           // no forecast: empty field
		{1 + n, "prescaler,29026080,300,,1,9,9,9"},                      // prescaler before its first model
		{2 + n, "prescaler,29026081,300.8726618569493,301.373,1,9,9,9"}, // demand exact, forecast to 3 decimals
		{3 * n, "yesterday,29028959,299.1273381430505,,1,9,9,9"},        // the last minute: sin(2π·1439/1440)
		{1 + 3*n, "oracle,29026080,300,,1,9,9,9"},
	} {
		if lines[c.line] != c.want {
			t.Errorf("line %d %q, want %q", c.line, lines[c.line], c.want)
		}
	}
	if err := WriteTimeline(&buf, fixedResult()); err == nil {
		t.Error("a result without rows: no error")
	}
}

func TestPeakDayAndPlots(t *testing.T) {
	res := withTimeline(fixedResult())
	if d := PeakDay(res); d != 2 {
		t.Errorf("peak day %d, want 2", d)
	}
	if d := EvalDays(res); d != 2 {
		t.Errorf("%d days, want 2", d)
	}
	for _, c := range []struct {
		day, want int
		ok        bool
	}{{0, 2, true}, {1, 1, true}, {2, 2, true}, {3, 0, false}, {-1, 0, false}} {
		got, _, err := PlotOptions{Day: c.day}.day(res)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("Day %d: day %d, error %v; want %d, ok %v", c.day, got, err, c.want, c.ok)
		}
	}
	// Rendering is slow under the race detector: one timeline plot only.
	var buf bytes.Buffer
	got, err := WriteTimelinePNG(&buf, res, PlotOptions{ReplicaCapacity: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got != 2 {
		t.Errorf("drew day %d, want the peak day 2", got)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1400 {
		t.Errorf("timeline plot %v, want 1400×1400", b)
	}
	if _, err := WriteTimelinePNG(&bytes.Buffer{}, res, PlotOptions{ReplicaCapacity: 50, Day: 3}); err == nil {
		t.Error("day 3 of 2: no error")
	}
	if _, err := WriteTimelinePNG(&bytes.Buffer{}, res, PlotOptions{}); err == nil {
		t.Error("no replica capacity: no error")
	}
	if _, err := WriteTimelinePNG(&bytes.Buffer{}, fixedResult(), PlotOptions{ReplicaCapacity: 50}); err == nil {
		t.Error("no timeline: no error")
	}
	buf.Reset()
	if err := WriteFrontierPNG(&buf, res); err != nil {
		t.Fatal(err)
	}
	img, err = png.Decode(&buf)
	if err != nil {
		t.Fatalf("frontier plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 800 {
		t.Errorf("frontier plot %v, want 1200×800", b)
	}
}

func TestOverloadTicks(t *testing.T) {
	var labels []string
	for _, tk := range (overloadTicks{}).Ticks(0, overloadY(500)) {
		labels = append(labels, tk.Label)
	}
	if got, want := strings.Join(labels, " "), "0 1 3 10 30 100 300"; got != want {
		t.Errorf("ticks %q, want %q", got, want)
	}
}

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 100, 0, "simulating [..............................]   0%  0/100 minutes"},
		{50, 100, 10 * time.Second, "simulating [###############...............]  50%  50/100 minutes  10s left"},
		{100, 100, 20 * time.Second, "simulating [##############################] 100%  100/100 minutes"},
	} {
		if got := Bar(c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("Bar(%d, %d, %v) =\n%q, want\n%q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// TestProgressConcurrent adds from many goroutines, as the engine's workers
// do, with a live bar drawing meanwhile; run it with -race.
func TestProgressConcurrent(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	var out bytes.Buffer
	const workers, each = 8, 5000
	p := NewProgress(&out, workers*each, true, clock)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	time.Sleep(3 * redrawEvery / 2) // let the bar draw at least once
	if elapsed := p.Finish(); elapsed <= 0 {
		t.Errorf("elapsed %v", elapsed)
	}
	if p.Done() != workers*each {
		t.Errorf("counted %d minutes, want %d", p.Done(), workers*each)
	}
	if s := out.String(); !strings.Contains(s, "100%") || !strings.HasSuffix(s, "\r\033[K") {
		t.Errorf("bar output %q: want a full bar, erased at the end", s)
	}
}

// TestProgressQuiet: not a terminal, nothing is written.
func TestProgressQuiet(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, 10, false, time.Now)
	p.Add(10)
	p.Finish()
	if out.Len() != 0 {
		t.Errorf("wrote %q", out.String())
	}
}

// The tuned run's days are read against the HPA alone's own record on the
// same per-day budgets.
func TestWriteTuningCountsTheHPAAloneAgainstTheSameBudgets(t *testing.T) {
	res := fixedResult()
	res.Policies[0].DailyOverloaded = []int{30, 12}
	res.Tuning = []backtest.TunedDay{
		{Day: 1, Choice: backtest.Choice{Budget: 20, Met: true}, Overloaded: 15},
		{Day: 2, Choice: backtest.Choice{Budget: 20, Met: true}, Overloaded: 25},
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	if want := "days within budget: 1 of 2 (the HPA alone at 0.70: 1 of 2)"; !strings.Contains(buf.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, buf.String())
	}
}
