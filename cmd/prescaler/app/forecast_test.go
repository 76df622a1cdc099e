package app_test

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// report is the part of the --report JSON the tests read.
type report struct {
	Source       string    `json:"source"`
	StepMinutes  int       `json:"step_minutes"`
	Period       int       `json:"period"`
	Period2      int       `json:"period2"`
	HorizonSteps int       `json:"horizon_steps"`
	TrainSteps   int       `json:"train_steps"`
	Fits         int       `json:"fits"`
	FitSeconds   []float64 `json:"fit_seconds"`
	Models       []string  `json:"models"`
	Rows         int       `json:"rows"`
	MASE         *float64  `json:"mase"`
	NaiveMASE    *float64  `json:"seasonal_naive_mase"`
	Coverage     *float64  `json:"coverage"`
	MissingSteps int       `json:"missing_steps"`
	Notes        []string  `json:"notes"`
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	return r
}

// plan is a forecast run in steps, worked out by hand from the flags.
type plan struct {
	stepMin, period, period2, train, horizon, refit int
}

// rows is the number of forecasts for n steps: origins train-1 … n-1-horizon.
func (p plan) rows(n int) int { return n - p.train - p.horizon + 1 }

// fits counts the initial fit and the refits: every refit steps after the
// first origin, as long as the origin still has a target.
func (p plan) fits(n int) int {
	fits := 1
	for origin := p.train; origin+p.horizon < n; origin++ {
		if (origin-(p.train-1))%p.refit == 0 {
			fits++
		}
	}
	return fits
}

// withGaps blanks minutes in s: a whole hour (hour 30, inside the training
// window), three minutes of hour 70, and all of hour 80 (a forecast target).
func withGaps(s trace.Series) trace.Series {
	v := slices.Clone(s.Values)
	for m := 30 * 60; m < 31*60; m++ {
		v[m] = math.NaN()
	}
	v[70*60+5], v[70*60+6], v[70*60+59] = math.NaN(), math.NaN(), math.NaN()
	for m := 80 * 60; m < 81*60; m++ {
		v[m] = math.NaN()
	}
	return trace.Series{Start: s.Start, StepMinutes: 1, Values: v}
}

// TestForecastOutput checks the output contract of `prescaler forecast` for
// several flag combinations: the header, one row per origin with the target's
// first minute, the actual column equal to the step's summed minutes, and
// 0 ≤ lower ≤ forecast ≤ upper.
func TestForecastOutput(t *testing.T) {
	trimmed := synthMinutes(t, 5)
	trimmed.Values = trimmed.Values[:4*1440+17] // a trailing partial 30-minute step
	cases := []struct {
		name    string
		minutes trace.Series
		args    []string
		plan    plan
	}{
		{
			name:    "hourly steps, one hour ahead",
			minutes: synthMinutes(t, 5),
			args:    []string{"--step", "1h", "--season", "1d", "--train", "2d", "--horizon", "1h", "--refit", "12h"},
			plan:    plan{stepMin: 60, period: 24, train: 48, horizon: 1, refit: 12},
		},
		{
			name:    "three hours ahead, squared loss, no AR(1), no clipping, 50 % interval",
			minutes: synthMinutes(t, 5),
			args: []string{"--step", "1h", "--season", "1d", "--train", "2d", "--horizon", "3h", "--refit", "1d",
				"--loss", "squared", "--no-ar1", "--clip", "0", "--interval", "0.5"},
			plan: plan{stepMin: 60, period: 24, train: 48, horizon: 3, refit: 24},
		},
		{
			name:    "30-minute steps, trailing partial step dropped",
			minutes: trimmed,
			args:    []string{"--step", "30m", "--season", "1d", "--train", "2d", "--horizon", "90m", "--refit", "6h"},
			plan:    plan{stepMin: 30, period: 48, train: 96, horizon: 3, refit: 12},
		},
		{
			name:    "no season, multi-step loss",
			minutes: synthMinutes(t, 3),
			args:    []string{"--step", "20m", "--season", "0", "--train", "1d", "--horizon", "20m", "--refit", "6h", "--loss-horizon", "2"},
			plan:    plan{stepMin: 20, period: 0, train: 72, horizon: 1, refit: 18},
		},
		{
			name:    "second season",
			minutes: synthMinutes(t, 6),
			args:    []string{"--step", "1h", "--season", "1d", "--season2", "2d", "--train", "4d", "--horizon", "2h", "--refit", "1d"},
			plan:    plan{stepMin: 60, period: 24, period2: 48, train: 96, horizon: 2, refit: 24},
		},
		{
			name:    "missing minutes",
			minutes: withGaps(synthMinutes(t, 5)),
			args:    []string{"--step", "1h", "--season", "1d", "--train", "2d", "--horizon", "1h", "--refit", "12h"},
			plan:    plan{stepMin: 60, period: 24, train: 48, horizon: 1, refit: 12},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.plan
			reportPath := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"forecast", "--trace", writeTrace(t, c.minutes), "--report", reportPath}, c.args...)
			stdout, stderr := mustRun(t, args...)

			rows := parseForecast(t, stdout)
			n := len(c.minutes.Values) / p.stepMin
			if len(rows) != p.rows(n) {
				t.Fatalf("%d rows, want n_steps − train − horizon + 1 = %d − %d − %d + 1 = %d", len(rows), n, p.train, p.horizon, p.rows(n))
			}
			missingSteps := 0
			for k := range n {
				if math.IsNaN(stepSum(c.minutes.Values, k, p.stepMin)) {
					missingSteps++
				}
			}
			for i, r := range rows {
				target := p.train + p.horizon - 1 + i
				if want := c.minutes.Start + int64(target*p.stepMin); r.minute != want {
					t.Fatalf("row %d: unix_minute %d, want first minute + (train + h − 1 + %d)·step = %d", i, r.minute, i, want)
				}
				want := stepSum(c.minutes.Values, target, p.stepMin)
				if math.IsNaN(want) != math.IsNaN(r.actual) || !math.IsNaN(want) && !near(r.actual, want, 1e-12) {
					t.Errorf("row %d (minute %d): actual %v, want the step's minutes summed: %v", i, r.minute, r.actual, want)
				}
				if !(0 <= r.lower && r.lower <= r.forecast && r.forecast <= r.upper) || math.IsInf(r.upper, 0) {
					t.Errorf("row %d (minute %d): want 0 ≤ lower ≤ forecast ≤ upper < ∞: %q", i, r.minute, r.raw)
				}
			}

			rep := readReport(t, reportPath)
			if rep.Fits != p.fits(n) || len(rep.FitSeconds) != rep.Fits || len(rep.Models) != rep.Fits {
				t.Errorf("report: %d fits, %d fit_seconds, %d models; want %d of each", rep.Fits, len(rep.FitSeconds), len(rep.Models), p.fits(n))
			}
			if rep.Rows != len(rows) || rep.StepMinutes != p.stepMin || rep.Period != p.period || rep.Period2 != p.period2 ||
				rep.TrainSteps != p.train || rep.HorizonSteps != p.horizon || rep.MissingSteps != missingSteps {
				t.Errorf("report %+v does not match the run: rows %d, step %dm, periods %d/%d, train %d, horizon %d, missing %d",
					rep, len(rows), p.stepMin, p.period, p.period2, p.train, p.horizon, missingSteps)
			}
			if !strings.Contains(stderr, strconv.Itoa(len(rows))+" rows") {
				t.Errorf("stderr does not give the row count %d:\n%s", len(rows), stderr)
			}
		})
	}
}

// causalityPlan is the run the causality test varies: hourly steps, a 2-day
// window refitted every 12 h, forecasts 2 h ahead. Refits happen at origins
// 59, 71, 83, …
var causalityPlan = plan{stepMin: 60, period: 24, train: 48, horizon: 2, refit: 12}

var causalityArgs = []string{"--step", "1h", "--season", "1d", "--train", "2d", "--horizon", "2h", "--refit", "12h"}

// TestForecastIsCausal is the rolling-origin contract: the forecast for a
// target depends only on data up to its origin (target − horizon). Changing or
// dropping everything after origin o must leave every forecast made at
// origins ≤ o byte-identical, refits included.
func TestForecastIsCausal(t *testing.T) {
	p := causalityPlan
	minutes := synthMinutes(t, 6)
	base := parseForecast(t, forecastOf(t, minutes))
	byMinute := map[int64]forecastRow{}
	for _, r := range base {
		byMinute[r.minute] = r
	}
	minuteOf := func(step int) int64 { return minutes.Start + int64(step*p.stepMin) }

	scaled := func(cut int) trace.Series {
		v := slices.Clone(minutes.Values)
		for m := (cut + 1) * p.stepMin; m < len(v); m++ {
			v[m] *= 10
		}
		return trace.Series{Start: minutes.Start, StepMinutes: 1, Values: v}
	}
	blanked := func(cut int) trace.Series {
		// Half a day of missing data: a whole window of it would leave a
		// refit nothing to fit, which ends the run.
		v := slices.Clone(minutes.Values)
		for m := (cut + 1) * p.stepMin; m < (cut+13)*p.stepMin; m++ {
			v[m] = math.NaN()
		}
		return trace.Series{Start: minutes.Start, StepMinutes: 1, Values: v}
	}
	dropped := func(cut int) trace.Series {
		return trace.Series{Start: minutes.Start, StepMinutes: 1, Values: minutes.Values[:(cut+1)*p.stepMin]}
	}

	for _, cut := range []int{
		59, // the last origin compared is a refit
		64, // between refits
		70, // the step before a refit: the refit at 71 sees changed data
		83, // after three refits
	} {
		refits := 0
		for origin := p.train; origin <= cut; origin++ {
			if (origin-(p.train-1))%p.refit == 0 {
				refits++
			}
		}
		if refits == 0 {
			t.Fatalf("cut %d: no refit in the compared span", cut)
		}
		for _, v := range []struct {
			name  string
			alter func(int) trace.Series
		}{
			{"later demand ×10", scaled},
			{"next 12 h missing", blanked},
			{"later minutes dropped", dropped},
		} {
			t.Run(v.name+"/after step "+strconv.Itoa(cut), func(t *testing.T) {
				rows := parseForecast(t, forecastOf(t, v.alter(cut)))
				compared, changed := 0, false
				for _, r := range rows {
					b, ok := byMinute[r.minute]
					if !ok {
						t.Fatalf("row for minute %d not in the unaltered run", r.minute)
					}
					switch {
					case r.minute <= minuteOf(cut):
						// Target and origin both before the change.
						if r.raw != b.raw {
							t.Errorf("target minute %d:\n got %s\nwant %s", r.minute, r.raw, b.raw)
						}
						compared++
					case r.minute <= minuteOf(cut+p.horizon):
						// Origin before the change, target after it: only the
						// actual column may differ.
						if r.rawWithoutActual != b.rawWithoutActual {
							t.Errorf("forecast from origin %d changed with data after it:\n got %s\nwant %s", cut, r.raw, b.raw)
						}
						compared++
					default:
						changed = changed || r.rawWithoutActual != b.rawWithoutActual
					}
				}
				wantCompared := cut + p.horizon - (p.train + p.horizon - 1) + 1
				if v.name == "later minutes dropped" {
					wantCompared = len(rows) // the trace now ends at the cut
				}
				if compared != wantCompared || compared == 0 {
					t.Errorf("compared %d rows, want %d", compared, wantCompared)
				}
				if v.name == "later demand ×10" && !changed {
					t.Errorf("no forecast after origin %d changed: the alteration did not reach the model", cut)
				}
			})
		}
	}
}

func forecastOf(t *testing.T, minutes trace.Series) string {
	t.Helper()
	stdout, _ := mustRun(t, append([]string{"forecast", "--trace", writeTrace(t, minutes)}, causalityArgs...)...)
	return stdout
}

func TestForecastIsDeterministic(t *testing.T) {
	path := writeTrace(t, withGaps(synthMinutes(t, 6)))
	dir := t.TempDir()
	var outputs [2]string
	var reports [2]report
	for i := range outputs {
		reportPath := filepath.Join(dir, "report"+strconv.Itoa(i)+".json")
		outputs[i], _ = mustRun(t, append([]string{"forecast", "--trace", path, "--report", reportPath}, causalityArgs...)...)
		reports[i] = readReport(t, reportPath)
	}
	if outputs[0] != outputs[1] {
		t.Errorf("two runs on the same trace differ")
	}
	if !slices.Equal(reports[0].Models, reports[1].Models) || reports[0].MASE == nil || reports[1].MASE == nil || *reports[0].MASE != *reports[1].MASE {
		t.Errorf("two runs chose different models or scores:\n%v\n%v", reports[0].Models, reports[1].Models)
	}

	// --out writes the same bytes to a file, and nothing to standard output.
	outPath := filepath.Join(dir, "out.csv")
	stdout, _ := mustRun(t, append([]string{"forecast", "--trace", path, "--out", outPath}, causalityArgs...)...)
	file, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" || string(file) != outputs[0] {
		t.Errorf("--out: stdout %d bytes (want 0), file equal to stdout run: %v", len(stdout), string(file) == outputs[0])
	}
}

func TestForecastReport(t *testing.T) {
	minutes := synthMinutes(t, 6)
	dir := t.TempDir()
	reportPath, outPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "out.csv")
	tracePath := writeTrace(t, minutes)
	_, stderr := mustRun(t, append([]string{"forecast", "--trace", tracePath, "--report", reportPath, "--out", outPath}, causalityArgs...)...)
	out, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := parseForecast(t, string(out))
	rep := readReport(t, reportPath)
	if rep.Fits < 1 || len(rep.FitSeconds) != rep.Fits || rep.Rows != len(rows) || rep.Source != tracePath {
		t.Errorf("report: fits %d, %d fit_seconds, rows %d, source %q; want fits ≥ 1 = len(fit_seconds), rows %d, source %q",
			rep.Fits, len(rep.FitSeconds), rep.Rows, rep.Source, len(rows), tracePath)
	}
	for _, s := range rep.FitSeconds {
		if !(s >= 0) {
			t.Errorf("fit_seconds holds %v", s)
		}
	}
	if rep.MASE == nil || rep.NaiveMASE == nil || rep.Coverage == nil || !(*rep.MASE > 0) || !(*rep.Coverage >= 0 && *rep.Coverage <= 1) {
		t.Errorf("report scores: mase %v, seasonal_naive_mase %v, coverage %v", rep.MASE, rep.NaiveMASE, rep.Coverage)
	}
	// The coverage in the report is the share of rows inside their interval.
	inside := 0
	for _, r := range rows {
		if r.lower <= r.actual && r.actual <= r.upper {
			inside++
		}
	}
	if rep.Coverage != nil && !near(*rep.Coverage, float64(inside)/float64(len(rows)), 1e-12) {
		t.Errorf("report coverage %v, rows give %v", *rep.Coverage, float64(inside)/float64(len(rows)))
	}
	for _, want := range []string{tracePath, strconv.Itoa(rep.Fits) + " fits", "MASE", "last model"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
}

// TestForecastReportUndefinedScores: a flat training window makes the MASE
// scale 0, so MASE is undefined. The report must still be written, with null
// scores (encoding/json cannot write NaN or ±Inf and used to fail the command).
func TestForecastReportUndefinedScores(t *testing.T) {
	flat := trace.Series{Start: 0, StepMinutes: 1, Values: make([]float64, 4*1440)}
	for i := range flat.Values {
		flat.Values[i] = 10
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	mustRun(t, "forecast", "--trace", writeTrace(t, flat), "--report", reportPath,
		"--step", "1h", "--season", "1d", "--train", "2d", "--horizon", "1h", "--refit", "1d")
	rep := readReport(t, reportPath)
	if rep.MASE != nil || rep.NaiveMASE != nil {
		t.Errorf("mase %v, seasonal_naive_mase %v; want null for a zero scale", rep.MASE, rep.NaiveMASE)
	}
	if rep.Coverage == nil || rep.Rows != 2*24 {
		t.Errorf("coverage %v, rows %d; want a coverage and 48 rows", rep.Coverage, rep.Rows)
	}
}

// TestForecastBadFlags: every rejected flag names itself and the value given.
func TestForecastBadFlags(t *testing.T) {
	tracePath := writeTrace(t, synthMinutes(t, 2))
	badCSV := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(badCSV, []byte("unix_minute,requests\n1,2\n2,lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"season not a multiple of the step", []string{"--step", "7m", "--season", "25h"}, []string{`--season "25h"`, "not a multiple", `--step "7m"`}},
		{"horizon not a multiple of the step", []string{"--horizon", "7m"}, []string{`--horizon "7m"`, "not a multiple", `--step "5m"`}},
		{"train not a multiple of the step", []string{"--step", "7m", "--season", "0", "--horizon", "7m", "--train", "1d"}, []string{`--train "1d"`, `--step "7m"`}},
		{"refit not a multiple of the step", []string{"--refit", "1h1m"}, []string{`--refit "1h1m"`, `--step "5m"`}},
		{"interval above 1", []string{"--interval", "1.5"}, []string{"--interval 1.5", "(0, 1)"}},
		{"interval 0", []string{"--interval", "0"}, []string{"--interval 0", "(0, 1)"}},
		{"interval not a number", []string{"--interval", "wide"}, []string{`"wide"`, "--interval"}},
		{"step below a minute", []string{"--step", "30s"}, []string{`--step "30s"`, "whole number of minutes"}},
		{"step not whole minutes", []string{"--step", "90s"}, []string{`--step "90s"`, "whole number of minutes"}},
		{"step not a duration", []string{"--step", "5 minutes"}, []string{`--step "5 minutes"`, "not a duration"}},
		{"season2 not a multiple of season", []string{"--season", "1d", "--season2", "36h"}, []string{`--season2 "36h"`, `--season "1d"`}},
		{"season2 without a season", []string{"--season", "0", "--season2", "7d"}, []string{`--season2 "7d"`, `--season "0"`}},
		{"season2 equal to season", []string{"--season", "1d", "--season2", "1d"}, []string{`--season2 "1d"`, "longer"}},
		{"unknown loss", []string{"--loss", "bogus"}, []string{`--loss "bogus"`, "squared or absolute"}},
		{"negative clip", []string{"--clip", "-1"}, []string{"--clip -1"}},
		{"zero horizon", []string{"--horizon", "0"}, []string{`--horizon "0"`, "positive"}},
		{"zero refit", []string{"--refit", "0"}, []string{`--refit "0"`, "positive"}},
		{"negative train", []string{"--train", "-1d"}, []string{`--train "-1d"`}},
		{"trace too short for --train", []string{"--train", "7d"}, []string{"--train 7d", "--horizon 15m", "need 2019 steps", "the trace has 576"}},
		{"unknown flag", []string{"--window", "7d"}, []string{"unknown flag", "--window"}},
		{"positional argument", []string{"extra"}, []string{`"extra"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"forecast", "--trace", tracePath}, c.args...)
			stdout, stderr, err := runCLI(t, args...)
			if err == nil {
				t.Fatalf("prescaler %s succeeded, want an error", strings.Join(args, " "))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(stderr, err.Error()) {
				t.Errorf("stderr does not show the error:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("a rejected run wrote to stdout:\n%.200s", stdout)
			}
		})
	}

	t.Run("missing trace file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.csv")
		_, _, err := runCLI(t, "forecast", "--trace", path)
		if err == nil || !strings.Contains(err.Error(), "absent.csv") {
			t.Errorf("error %v, want one naming absent.csv", err)
		}
	})
	t.Run("malformed trace", func(t *testing.T) {
		_, _, err := runCLI(t, "forecast", "--trace", badCSV, "--train", "1h")
		if err == nil || !strings.Contains(err.Error(), badCSV) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), `"lots"`) {
			t.Errorf("error %v, want one naming %s, line 3 and \"lots\"", err, badCSV)
		}
	})
}

// TestForecastGolden pins the output format byte for byte: the minute
// column, the actual sum (empty for a step with no data, scaled up for a step
// with some), and 4-decimal forecasts and bounds. The input is flat demand
// with gaps, whose forecast does not depend on fitting details: the
// predictor's numerics are pinned by its own golden files. After an intended
// change, review the diff and rerun with
// `go test ./cmd/prescaler/app -run TestForecastGolden -update`.
func TestForecastGolden(t *testing.T) {
	flat := trace.Series{Start: 29_016_000, StepMinutes: 1, Values: make([]float64, 5*1440)}
	for i := range flat.Values {
		flat.Values[i] = 10
	}
	stdout, _ := mustRun(t, append([]string{"forecast", "--trace", writeTrace(t, withGaps(flat))}, causalityArgs...)...)
	path := filepath.Join("testdata", "forecast-flat-gaps.golden.csv")
	if *update {
		if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if stdout == string(data) {
		return
	}
	got, want := strings.Split(stdout, "\n"), strings.Split(string(data), "\n")
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
	if t.Failed() {
		t.Log("rerun with -update if the change is intended")
	}
}

// A refit window without observations must not end the run: the model in
// hand goes on with online updates and the report says so.
func TestForecastSurvivesAnEmptyRefitWindow(t *testing.T) {
	minutes := synthMinutes(t, 6)
	for i := 2 * 1440; i < 4*1440+60; i++ { // two days and an hour missing
		minutes.Values[i] = math.NaN()
	}
	path := writeTrace(t, minutes)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	stdout, _ := mustRun(t, "forecast", "--trace", path, "--step", "60m", "--season", "0",
		"--train", "1d", "--refit", "1d", "--horizon", "1h", "--report", reportPath)
	rows := parseForecast(t, stdout)
	if want := 6*24 - 24 - 1 + 1; len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
	r := readReport(t, reportPath)
	kept := false
	for _, n := range r.Notes {
		kept = kept || strings.Contains(n, "previous model kept")
	}
	if !kept {
		t.Errorf("notes %q do not report the failed refit", r.Notes)
	}
}
