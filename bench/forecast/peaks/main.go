// Command peaks scores prescaler's peak quantiles on a real trace, under the
// forecast benchmark's protocol (bench/forecast/README.md): the trace is
// summed into steps, a predictor.Rolling is fitted on the first --train and
// refitted every --refit on the trailing window, exactly as `prescaler
// forecast` does, and from every origin t it is asked
//
//   - the --horizon-step forecast with its central --interval interval, the
//     row `prescaler forecast` writes (MASE, coverage: a cross-check);
//   - for each window of k steps in --windows, PeakQuantile(k, --quantile),
//     scored against the realised peak max(y[t+1..t+k]), and the largest of
//     the per-step quantiles max_j Quantile(j, q) for comparison (what a
//     floor sized step by step would use).
//
// It writes a JSON report and prints one summary line. The Go side of the
// benchmark needs no flag in `prescaler forecast` for this.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/trace"
)

type config struct {
	tracePath string
	step      int // minutes
	season    int // steps
	horizon   int // steps
	train     int // steps
	refit     int // steps
	interval  float64
	quantile  float64
	windows   []int // steps
	seasonal  string
	outPath   string
	clip      float64
}

// windowScore is the peak-quantile score of one window length.
type windowScore struct {
	Steps   int `json:"window_steps"`
	Minutes int `json:"window_minutes"`
	Origins int `json:"origins"`
	// Coverage is the share of origins whose realised peak is at most
	// PeakQuantile(k, q); MaxOfStepsCoverage the same for max_j Quantile(j, q).
	Coverage           float64 `json:"coverage"`
	MaxOfStepsCoverage float64 `json:"max_of_steps_coverage"`
	// MeanOverPeak is mean PeakQuantile / mean realised peak: the headroom a
	// floor sized from it carries on average (its cost).
	MeanOverPeak           float64 `json:"mean_over_peak"`
	MaxOfStepsMeanOverPeak float64 `json:"max_of_steps_mean_over_peak"`
	// Pinball is the mean quantile (pinball) loss of PeakQuantile against
	// the realised peak, (1{P ≤ Q} − q)(Q − P): the proper scoring rule of
	// a q-quantile, which rewards both calibration and sharpness (lower is
	// better; in requests per step). MaxOfStepsPinball: the same for
	// max_j Quantile(j, q).
	Pinball           float64 `json:"pinball"`
	MaxOfStepsPinball float64 `json:"max_of_steps_pinball"`
}

type report struct {
	Trace         string  `json:"trace"`
	StepMinutes   int     `json:"step_minutes"`
	HorizonSteps  int     `json:"horizon_steps"`
	TrainSteps    int     `json:"train_steps"`
	SeasonalScale bool    `json:"seasonal_scale"`
	Quantile      float64 `json:"quantile"`
	Fits          int     `json:"fits"`
	PhasedFits    int     `json:"fits_with_seasonal_factors"`
	Rows          int     `json:"rows"`
	MASE          float64 `json:"mase"`
	Coverage      float64 `json:"coverage"`
	Width         float64 `json:"width"`
	// IntervalScore is the mean interval score of the central interval
	// (Gneiting & Raftery 2007, eq. 43): width plus 2/α times the miss
	// distance, α = 1 − interval. Lower is better.
	IntervalScore float64       `json:"interval_score"`
	Peaks         []windowScore `json:"peaks"`
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peaks:", err)
		os.Exit(2)
	}
	rep, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peaks:", err)
		os.Exit(1)
	}
	fmt.Println(summary(rep))
	if cfg.outPath != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.outPath, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "peaks:", err)
			os.Exit(1)
		}
	}
}

func parseFlags() (config, error) {
	var c config
	var step, season, horizon, train, refit, windows string
	flag.StringVar(&c.tracePath, "trace", "", "per-minute trace CSV (unix_minute,requests)")
	flag.StringVar(&step, "step", "1m", "model step")
	flag.StringVar(&season, "season", "1d", "season length")
	flag.StringVar(&horizon, "horizon", "15m", "forecast horizon (also the calibrated horizon)")
	flag.StringVar(&train, "train", "7d", "fitting window, also the refit window")
	flag.StringVar(&refit, "refit", "1d", "refit period")
	flag.Float64Var(&c.interval, "interval", 0.8, "central interval coverage")
	flag.Float64Var(&c.quantile, "quantile", 0.9, "peak quantile level")
	flag.StringVar(&windows, "windows", "5m,10m", "peak windows, comma-separated durations")
	flag.StringVar(&c.seasonal, "seasonal-scale", "default", "seasonal volatility: on, off or default (the library's)")
	flag.Float64Var(&c.clip, "clip", 5, "robust updating clip, as prescaler forecast --clip")
	flag.StringVar(&c.outPath, "out", "", "JSON report")
	flag.Parse()
	if c.tracePath == "" {
		return c, fmt.Errorf("--trace is required")
	}
	if c.seasonal != "on" && c.seasonal != "off" && c.seasonal != "default" {
		return c, fmt.Errorf("--seasonal-scale %q: want on, off or default", c.seasonal)
	}
	var err error
	if c.step, err = minutes(step); err != nil {
		return c, err
	}
	for _, f := range []struct {
		text string
		dst  *int
	}{{season, &c.season}, {horizon, &c.horizon}, {train, &c.train}, {refit, &c.refit}} {
		if *f.dst, err = steps(f.text, c.step); err != nil {
			return c, err
		}
	}
	for _, w := range strings.Split(windows, ",") {
		k, err := steps(strings.TrimSpace(w), c.step)
		if err != nil {
			return c, err
		}
		c.windows = append(c.windows, k)
	}
	return c, nil
}

// minutes parses "5m", "1h", "1d" or "7d".
func minutes(text string) (int, error) {
	units := map[byte]int{'m': 1, 'h': 60, 'd': 1440}
	if len(text) < 2 || units[text[len(text)-1]] == 0 {
		return 0, fmt.Errorf("duration %q: want a number and m, h or d", text)
	}
	n, err := strconv.Atoi(text[:len(text)-1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("duration %q is not a positive whole number", text)
	}
	return n * units[text[len(text)-1]], nil
}

func steps(text string, step int) (int, error) {
	m, err := minutes(text)
	if err != nil {
		return 0, err
	}
	if m%step != 0 {
		return 0, fmt.Errorf("duration %q is not a multiple of the %dm step", text, step)
	}
	return m / step, nil
}

func options(c config) predictor.Options {
	opts := predictor.Options{Period: c.season, Horizon: c.horizon, Clip: c.clip}
	switch c.seasonal {
	case "on":
		opts.NoSeasonalScale = false
	case "off":
		opts.NoSeasonalScale = true
	}
	return opts
}

// windowTally accumulates the score of one window length.
type windowTally struct {
	steps                        int
	origins, covered, maxC       int
	sumPeakQ, sumMaxQ, sum       float64
	pinballPeak, pinballMaxSteps float64
}

// pinball is the quantile loss of the q-quantile forecast Q for the value y.
func pinball(Q, y, q float64) float64 {
	if y <= Q {
		return (1 - q) * (Q - y)
	}
	return q * (y - Q)
}

// intervalScore is Gneiting & Raftery's interval score of [lo, hi] at level
// 1 − alpha for the value y.
func intervalScore(lo, hi, y, alpha float64) float64 {
	s := hi - lo
	if y < lo {
		s += 2 / alpha * (lo - y)
	}
	if y > hi {
		s += 2 / alpha * (y - hi)
	}
	return s
}

func run(c config) (report, error) {
	minutesSeries, err := trace.ReadFile(c.tracePath)
	if err != nil {
		return report{}, err
	}
	series, err := minutesSeries.Aggregate(c.step)
	if err != nil {
		return report{}, err
	}
	opts := options(c)
	rep := report{Trace: c.tracePath, StepMinutes: c.step, HorizonSteps: c.horizon, TrainSteps: c.train,
		SeasonalScale: !opts.NoSeasonalScale, Quantile: c.quantile}
	roll, err := predictor.NewRolling(predictor.RollingOptions{Options: opts, Window: c.train, RefitEvery: c.refit})
	if err != nil {
		return rep, err
	}
	return rep, scoreOrigins(c, series.Values, roll, &rep)
}

// scoreOrigins walks the origins of the protocol as `prescaler forecast`
// does (fit on the first train steps, then one step per origin) and fills
// the scores of rep.
func scoreOrigins(c config, y []float64, roll *predictor.Rolling, rep *report) error {
	observe := func(t int) {
		if fitted, _ := roll.Observe(y[t]); fitted {
			rep.Fits++
			if hasFactors(roll.Model(), c.season) {
				rep.PhasedFits++
			}
		}
	}
	for t := 0; t < c.train; t++ {
		observe(t)
	}
	if roll.Model() == nil {
		return fmt.Errorf("first fit failed: %v", roll.LastError)
	}
	acc := predictor.Accuracy{Scale: predictor.SeasonalNaiveScale(y[:c.train], c.season)}
	tallies := make([]windowTally, len(c.windows))
	for i, k := range c.windows {
		tallies[i].steps = k
	}
	width, score := 0.0, 0.0
	for origin := c.train - 1; origin+c.horizon < len(y); origin++ {
		if origin >= c.train {
			observe(origin)
		}
		m := roll.Model()
		fc, err := m.ForecastAt(c.horizon, c.interval)
		if err != nil {
			return err
		}
		if actual := y[origin+c.horizon]; !math.IsNaN(actual) {
			acc.Add(actual, fc, math.NaN())
			width += fc.Upper - fc.Lower
			score += intervalScore(fc.Lower, fc.Upper, actual, 1-c.interval)
		}
		for i := range tallies {
			if err := tallies[i].add(m, y, origin, c.quantile); err != nil {
				return err
			}
		}
	}
	rep.Rows = acc.Count()
	rep.MASE, rep.Coverage = acc.MASE(), acc.Coverage()
	rep.Width, rep.IntervalScore = width/float64(acc.Count()), score/float64(acc.Count())
	for _, t := range tallies {
		rep.Peaks = append(rep.Peaks, t.score(c.step))
	}
	return nil
}

// score is the tally's summary.
func (t *windowTally) score(stepMinutes int) windowScore {
	n := float64(t.origins)
	return windowScore{
		Steps: t.steps, Minutes: t.steps * stepMinutes, Origins: t.origins,
		Coverage:               float64(t.covered) / n,
		MaxOfStepsCoverage:     float64(t.maxC) / n,
		MeanOverPeak:           t.sumPeakQ / t.sum,
		MaxOfStepsMeanOverPeak: t.sumMaxQ / t.sum,
		Pinball:                t.pinballPeak / n,
		MaxOfStepsPinball:      t.pinballMaxSteps / n,
	}
}

// hasFactors reports whether the model's interval scale varies with the phase.
func hasFactors(m *predictor.Model, period int) bool {
	for h := 1; h <= period; h++ {
		if m.VolatilityFactor(h) != 1 {
			return true
		}
	}
	return false
}

// add scores the window of t.steps steps after origin, when all of it lies
// in the trace and is observed.
func (t *windowTally) add(m *predictor.Model, y []float64, origin int, q float64) error {
	if origin+t.steps >= len(y) {
		return nil
	}
	peak, maxOfSteps := math.Inf(-1), 0.0
	for j := 1; j <= t.steps; j++ {
		if math.IsNaN(y[origin+j]) {
			return nil
		}
		peak = math.Max(peak, y[origin+j])
		qj, err := m.Quantile(j, q)
		if err != nil {
			return err
		}
		maxOfSteps = math.Max(maxOfSteps, qj)
	}
	pq, err := m.PeakQuantile(t.steps, q)
	if err != nil {
		return err
	}
	t.origins++
	if peak <= pq {
		t.covered++
	}
	if peak <= maxOfSteps {
		t.maxC++
	}
	t.sumPeakQ += pq
	t.pinballPeak += pinball(pq, peak, q)
	t.pinballMaxSteps += pinball(maxOfSteps, peak, q)
	t.sumMaxQ += maxOfSteps
	t.sum += peak
	return nil
}

func summary(r report) string {
	parts := []string{fmt.Sprintf("%s step %dm h=%d seasonal=%v fits=%d (phased %d): rows %d MASE %.4f cov %.3f width %.1f IS %.1f",
		filepath.Base(r.Trace), r.StepMinutes, r.HorizonSteps, r.SeasonalScale, r.Fits, r.PhasedFits, r.Rows, r.MASE, r.Coverage, r.Width, r.IntervalScore)}
	for _, p := range r.Peaks {
		parts = append(parts, fmt.Sprintf("k=%d: peak%.0f cov %.3f (max-of-steps %.3f) mean/peak %.3f (%.3f) pinball %.1f (%.1f)",
			p.Steps, 100*r.Quantile, p.Coverage, p.MaxOfStepsCoverage, p.MeanOverPeak, p.MaxOfStepsMeanOverPeak, p.Pinball, p.MaxOfStepsPinball))
	}
	return strings.Join(parts, "; ")
}
