package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A trace row of 1e308 is refused by the trace reader naming the file and
// the line; it used to pass, fail deep in a fit naming a model step, or
// print MASE 0.000 once the sums overflowed.
func TestForecastRefusesAnAbsurdTraceRow(t *testing.T) {
	minutes := synthMinutes(t, 8)
	path := writeTrace(t, minutes)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	minute, _, _ := strings.Cut(lines[100], ",")
	lines[100] = minute + ",1e308"
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "forecast", "--trace", bad, "--train", "7d")
	if err == nil {
		t.Fatal("forecast accepted a row of 1e308")
	}
	for _, want := range []string{bad, "line 101", `"1e308"`, "implausible"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// A value the trace reader takes but the forecaster finds implausible
// beside the rest (1e11 requests in a minute of a few hundred) is refused,
// counted as missing and reported; the forecasts go on.
func TestForecastReportsRefusedSteps(t *testing.T) {
	minutes := synthMinutes(t, 9)
	minutes.Values[8*1440+600] = 1e11
	report := filepath.Join(t.TempDir(), "report.json")
	_, stderr := mustRun(t, "forecast", "--trace", writeTrace(t, minutes), "--train", "7d", "--report", report)
	if !strings.Contains(stderr, "refused: steps refused and counted as missing: 1 implausible (more than 100 times") {
		t.Errorf("the refused step is not reported:\n%s", stderr)
	}
	data, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(data), `"refused_steps": 1`) {
		t.Errorf("report %s (%v) does not count the refused step", data, err)
	}
	if strings.Contains(stderr, "MASE 0.000") {
		t.Errorf("a MASE of zero:\n%s", stderr)
	}
}

// Flags out of range are refused naming the flag: a negative loss horizon
// used to be accepted, and a horizon beyond time.Duration's range wrapped
// around to a negative one ("must be positive").
func TestForecastFlagsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--loss-horizon", "-3"}, "--loss-horizon -3 must be 0 (one step) or a number of steps up to the 2016 of --train 7d"},
		{[]string{"--loss-horizon", "1000000000"}, "--loss-horizon 1000000000 must be"},
		{[]string{"--horizon", "9999999w"}, `--horizon: duration "9999999w" is out of range`},
		{[]string{"--train", "300000d"}, `--train: duration "300000d" is out of range`},
	} {
		_, _, err := runCLI(t, append([]string{"forecast"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("forecast %s: error %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// One corrupted minute no longer sizes the derived replica capacity: the
// backtest derives the same capacity as on the clean trace, and says which
// minutes it left out.
func TestBacktestCapacityIgnoresAnOutlierMinute(t *testing.T) {
	clean := synthMinutes(t, 3)
	corrupted := synthMinutes(t, 3)
	corrupted.Values[1500] = 1e9
	args := []string{"--warmup", "2d", "--step", "5m", "--frontier", "0.6,0.9", "--peak-replicas", "10", "--json"}
	want, _ := mustRun(t, append([]string{"backtest", "--trace", writeTrace(t, clean)}, args...)...)
	got, stderr := mustRun(t, append([]string{"backtest", "--trace", writeTrace(t, corrupted)}, args...)...)
	capacity := func(out string) string {
		i := strings.Index(out, `"replica_capacity"`)
		if i < 0 {
			t.Fatalf("no replica_capacity in:\n%.400s", out)
		}
		return out[i : i+strings.IndexAny(out[i:], ",}")]
	}
	if capacity(got) != capacity(want) {
		t.Errorf("with one corrupted minute %s, clean %s", capacity(got), capacity(want))
	}
	if !strings.Contains(stderr, "1 minute more than twice the largest 3-minute median left out as outliers") {
		t.Errorf("the left-out minute is not announced:\n%s", stderr)
	}
}
