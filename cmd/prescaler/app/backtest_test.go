package app_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// backtestArgs run a small backtest: a 3-day synthetic trace, 2 days of
// warm-up at a 5-minute model step and one day evaluated. With a few
// frontier runs (--frontier) one run takes about a second under the race
// detector.
func backtestArgs(t *testing.T) []string {
	t.Helper()
	return []string{"backtest", "--trace", writeTrace(t, synthMinutes(t, 3)),
		"--warmup", "2d", "--step", "5m", "--season", "1d", "--refit", "12h",
		"--replica-capacity", "40", "--startup", "3m", "--gpus", "30", "--max-replicas", "30",
		"--seed", "7"}
}

const (
	backtestPolicies   = 5
	backtestEvalMinute = 24 * 60
)

// backtestJSON is the part of the --json output the tests read.
type backtestJSON struct {
	EvalStart   int64 `json:"eval_start_unix_minute"`
	EvalMinutes int   `json:"eval_minutes"`
	Policies    []struct {
		Policy  string `json:"policy"`
		Summary struct {
			Minutes           int      `json:"minutes"`
			OverloadedMinutes int      `json:"overloaded_minutes"`
			GPUHours          float64  `json:"gpu_hours"`
			P99WaitSeconds    *float64 `json:"p99_wait_seconds"`
			P99Wait           string   `json:"p99_wait"`
		} `json:"summary"`
	} `json:"policies"`
	FrontierRuns []json.RawMessage `json:"frontier_runs"`
	Frontier     []struct {
		Label string `json:"label"`
	} `json:"frontier"`
	Comparisons []struct {
		Policy string `json:"policy"`
	} `json:"comparisons"`
	Options map[string]any `json:"options"`
}

// TestBacktestOutputs runs one backtest that writes every output — JSON,
// timeline and plots — and checks each, then runs it again for the same
// JSON.
func TestBacktestOutputs(t *testing.T) {
	dir := t.TempDir()
	timeline := filepath.Join(dir, "timeline.csv")
	plot := filepath.Join(dir, "day.png")
	args := append(backtestArgs(t), "--frontier", "0.5,0.7,0.9", "--json", "--timeline", timeline, "--plot", plot)
	stdout, stderr := mustRun(t, args...)

	var doc backtestJSON
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	t.Run("json", func(t *testing.T) {
		if len(doc.Policies) != backtestPolicies {
			t.Errorf("%d policies, want %d", len(doc.Policies), backtestPolicies)
		}
		for i, name := range []string{"reactive", "prescaler", "perfect-forecast", "yesterday", "oracle"} {
			if i < len(doc.Policies) && doc.Policies[i].Policy != name {
				t.Errorf("policy %d is %q, want %q", i, doc.Policies[i].Policy, name)
			}
		}
		if len(doc.FrontierRuns) != 3 || len(doc.Frontier) < 2 {
			t.Errorf("%d frontier runs and %d frontier points, want 3 and at least 2", len(doc.FrontierRuns), len(doc.Frontier))
		}
		if len(doc.Comparisons) == 0 {
			t.Error("no comparisons")
		}
		if doc.EvalMinutes != backtestEvalMinute {
			t.Errorf("%d minutes evaluated, want %d", doc.EvalMinutes, backtestEvalMinute)
		}
		for _, p := range doc.Policies {
			if p.Summary.Minutes != backtestEvalMinute || !(p.Summary.GPUHours > 0) || p.Summary.P99WaitSeconds == nil {
				t.Errorf("%s summary %+v", p.Policy, p.Summary)
			}
			if _, err := time.ParseDuration(p.Summary.P99Wait); err != nil {
				t.Errorf("%s p99 wait %q is not a duration", p.Policy, p.Summary.P99Wait)
			}
		}
		// The flags reach the engine.
		for key, want := range map[string]any{
			"replica_capacity": 40.0, "startup": "3m0s", "gpus": 30.0, "max_replicas": 30.0, "warmup": "48h0m0s",
			"step": "5m0s", "refit": "12h0m0s", "seed": 7.0, "queue_target": 5.0, "hpa_target_utilization": 0.7,
		} {
			if got := doc.Options[key]; got != want {
				t.Errorf("option %s = %v, want %v", key, got, want)
			}
		}
		if strings.Contains(stdout, "backtest:") {
			t.Error("--json output holds the table")
		}
	})

	t.Run("timeline", func(t *testing.T) {
		data, err := os.ReadFile(timeline)
		if err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("timeline is not CSV: %v", err)
		}
		if got := strings.Join(records[0], ","); got != "policy,unix_minute,demand,forecast,floor,desired,replicas,ready" {
			t.Errorf("header %q", got)
		}
		if got, want := len(records)-1, backtestPolicies*backtestEvalMinute; got != want {
			t.Errorf("%d rows, want %d policies × %d minutes = %d", got, backtestPolicies, backtestEvalMinute, want)
		}
		perPolicy := map[string]int{}
		for i, r := range records[1:] {
			perPolicy[r[0]]++
			minute, err := strconv.ParseInt(r[1], 10, 64)
			if err != nil {
				t.Fatalf("row %d: unix_minute %q", i+1, r[1])
			}
			if off := minute - doc.EvalStart; off < 0 || off >= backtestEvalMinute {
				t.Fatalf("row %d: minute %d outside the evaluation", i+1, minute)
			}
			if r[3] != "" && r[0] != "prescaler" {
				t.Errorf("row %d: %s has a forecast %q", i+1, r[0], r[3])
			}
			if r[3] != "" {
				if _, err := strconv.ParseFloat(r[3], 64); err != nil {
					t.Fatalf("row %d: forecast %q", i+1, r[3])
				}
			}
		}
		for p, n := range perPolicy {
			if n != backtestEvalMinute {
				t.Errorf("%s has %d rows, want %d", p, n, backtestEvalMinute)
			}
		}
	})

	t.Run("plots", func(t *testing.T) {
		for _, path := range []string{plot, filepath.Join(dir, "day-frontier.png")} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		if !strings.Contains(stderr, "day 1 of 1") {
			t.Errorf("stderr does not say which day was plotted:\n%s", stderr)
		}
	})

	t.Run("deterministic", func(t *testing.T) {
		again, _ := mustRun(t, args...)
		if again != stdout {
			t.Error("the same seed gave different JSON")
		}
	})
}

// TestBacktestTable runs without --replica-capacity, --max-replicas and
// --gpus: they are derived from the trace's peak minute and announced.
func TestBacktestTable(t *testing.T) {
	demand := synthMinutes(t, 3)
	peak := 0.0
	for _, v := range demand.Values {
		peak = math.Max(peak, v)
	}
	stdout, stderr := mustRun(t, "backtest", "--trace", writeTrace(t, demand), "--warmup", "2d", "--step", "5m",
		"--frontier", "0.6,0.9", "--peak-replicas", "10")
	for _, want := range []string{"reactive", "prescaler", "yesterday", "oracle", "reactive frontier", "at equal GPU-hours",
		"overloaded min", "GPU-h/oracle", "max replicas 20", "GPUs 20"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	capacity := strconv.FormatFloat(peak/10, 'f', -1, 64)
	if !strings.Contains(stderr, "replica capacity "+capacity) || !strings.Contains(stdout, "replica capacity (req/min) "+capacity) {
		t.Errorf("derived capacity %s (peak %v / 10) not announced:\nstderr:\n%s\nstdout:\n%s", capacity, peak, stderr, stdout)
	}
	for _, name := range []string{"reactive", "prescaler", "yesterday", "oracle"} {
		if !strings.Contains(stdout, "\n  "+name+" ") {
			t.Errorf("no table row for %s", name)
		}
	}
	if !strings.Contains(stderr, "simulated 6 runs × 1440 minutes") {
		t.Errorf("no summary line on stderr:\n%s", stderr)
	}
}

// TestBacktestFlagErrors: every bad flag is reported with its name and
// value, before anything is simulated.
func TestBacktestFlagErrors(t *testing.T) {
	tracePath := writeTrace(t, synthMinutes(t, 3))
	base := []string{"backtest", "--trace", tracePath, "--warmup", "2d"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--gpus", "0"}, "--gpus 0:"},
		{[]string{"--gpus", "1", "--gpus-per-replica", "2"}, "--gpus 1:"},
		{[]string{"--gpus-per-replica", "0"}, "--gpus-per-replica 0:"},
		{[]string{"--hpa-target-utilization", "1.5"}, "--hpa-target-utilization 1.5:"},
		{[]string{"--quantile", "1"}, "--quantile 1:"},
		{[]string{"--queue-target", "-1"}, "--queue-target -1:"},
		{[]string{"--replica-capacity", "0"}, "--replica-capacity 0:"},
		{[]string{"--replica-capacity", "-3"}, "--replica-capacity -3:"},
		{[]string{"--peak-replicas", "0"}, "--peak-replicas 0:"},
		{[]string{"--min-replicas", "0"}, "--min-replicas 0:"},
		{[]string{"--max-replicas", "3", "--min-replicas", "5"}, "--max-replicas 3:"},
		{[]string{"--startup", "soon"}, `--startup "soon"`},
		{[]string{"--startup-jitter", "5m"}, "--startup-jitter 5m:"},
		{[]string{"--step", "90s"}, "--step 90s:"},
		{[]string{"--step", "2m", "--season", "7m"}, "--season 7m:"},
		{[]string{"--season2", "36h"}, "--season2 36h:"},
		{[]string{"--refit", "0"}, "--refit 0:"},
		{[]string{"--warmup", "3d"}, "--warmup 3d:"},
		{[]string{"--frontier", "0.5,1.2"}, `--frontier 0.5,1.2: "1.2"`},
		{[]string{"--frontier", "0.5,,0.7"}, `--frontier 0.5,,0.7: ""`},
		{[]string{"--plot-day", "1"}, "--plot-day 1: needs --plot"},
		{[]string{"--plot", filepath.Join(t.TempDir(), "p.png"), "--plot-day", "2"}, "--plot-day 2:"},
		{[]string{"--timeline", filepath.Join(t.TempDir(), "missing", "t.csv")}, "--timeline"},
		{[]string{"--trace", filepath.Join(t.TempDir(), "missing.csv")}, "--trace"},
		{[]string{"--gpus-per-node", "4"}, "--gpus-per-node 4: needs --node-delay"},
		{[]string{"--placeholders"}, "--placeholders true: needs --node-delay"},
		{[]string{"--node-delay", "soon"}, `--node-delay "soon"`},
		{[]string{"--node-delay", "-1m"}, "--node-delay -1m:"},
		{[]string{"--node-delay", "5m", "--gpus-per-node", "2", "--gpus-per-replica", "4"}, "--gpus-per-node 2:"},
		{[]string{"--node-delay", "5m", "--gpus-per-node", "4", "--pool-limit-gpus", "3"}, "--pool-limit-gpus 3:"},
		{[]string{"--node-delay", "5m", "--gpus-per-node", "4", "--min-nodes", "11"}, "--min-nodes 11:"},
		{[]string{"--node-delay", "5m", "--consolidate-after", "0"}, "--consolidate-after 0:"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, err := runCLI(t, append(base, c.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if strings.Contains(stderr, "simulated") {
				t.Error("the simulation ran before the flags were checked")
			}
		})
	}
}

// TestBacktestProgressIsSafe: the progress counter is fed from the engine's
// workers; under -race this run fails if that is unsafe. Off a terminal the
// bar is not drawn, only the summary.
func TestBacktestProgressIsSafe(t *testing.T) {
	_, stderr := mustRun(t, append(backtestArgs(t), "--frontier", "0.6")...)
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "simulating [") {
		t.Errorf("a bar was drawn on a non-terminal:\n%q", stderr)
	}
	if !strings.Contains(stderr, "simulated 5 runs × 1440 minutes in ") {
		t.Errorf("no summary line:\n%s", stderr)
	}
}

// TestBacktestBuiltInTrace runs the command as the README would show it,
// with no trace, on one frontier run instead of twelve to keep it to a few
// seconds under the race detector; -short skips it.
func TestBacktestBuiltInTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("the built-in backtest takes seconds")
	}
	stdout, stderr := mustRun(t, "backtest", "--json", "--frontier", "0.7")
	var doc backtestJSON
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.EvalMinutes != 7*24*60 || len(doc.Policies) != backtestPolicies || len(doc.FrontierRuns) != 1 {
		t.Errorf("%d minutes, %d policies, %d frontier runs; want a week, 5 and 1", doc.EvalMinutes, len(doc.Policies), len(doc.FrontierRuns))
	}
	for _, want := range []string{"built-in synthetic trace, 14 days", "replica capacity", "max replicas 40", "gpus 40"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestBacktestNodeProvisioning: with --node-delay the command runs prescaler
// clamped to the Ready nodes and with placeholders beside the node-aware
// run, reports the nodes' GPU-hours with the pods' beside them, and adds the
// nodes and placeholders to the timeline.
func TestBacktestNodeProvisioning(t *testing.T) {
	timeline := filepath.Join(t.TempDir(), "timeline.csv")
	stdout, stderr := mustRun(t, append(backtestArgs(t), "--frontier", "0.7", "--json", "--timeline", timeline,
		"--node-delay", "5m", "--gpus-per-node", "4", "--placeholders")...)
	var doc struct {
		backtestJSON
		ElasticNodes bool `json:"elastic_nodes"`
		Policies     []struct {
			Policy  string `json:"policy"`
			Summary struct {
				GPUHours    float64 `json:"gpu_hours"`
				PodGPUHours float64 `json:"pod_gpu_hours"`
			} `json:"summary"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	var got []string
	for _, p := range doc.Policies {
		got = append(got, p.Policy)
		if !(p.Summary.PodGPUHours > 0 && p.Summary.GPUHours >= p.Summary.PodGPUHours) {
			t.Errorf("%s: node GPU-hours %v, pod GPU-hours %v", p.Policy, p.Summary.GPUHours, p.Summary.PodGPUHours)
		}
	}
	want := []string{"reactive", "prescaler", "prescaler-clamped", "prescaler-placeholders", "perfect-forecast", "yesterday", "oracle"}
	if strings.Join(got, ",") != strings.Join(want, ",") || !doc.ElasticNodes {
		t.Errorf("policies %v (elastic %v), want %v on an elastic pool", got, doc.ElasticNodes, want)
	}
	if doc.Options["node_delay"] != "5m0s" || doc.Options["gpus_per_node"] != 4.0 || doc.Options["pool_limit_gpus"] != 30.0 {
		t.Errorf("options %v: want the node pool's", doc.Options)
	}
	if !strings.Contains(stderr, "node pool: at most 7 nodes of 4 GPUs (28 replicas)") {
		t.Errorf("the node pool is not announced:\n%s", stderr)
	}
	b, err := os.ReadFile(timeline)
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(b), "\n"); !strings.HasSuffix(first, ",nodes,placeholders") {
		t.Errorf("timeline header %q lacks the nodes and placeholders", first)
	}
}
