package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/trace"
)

// forecastFlags are the raw flag values of `prescaler forecast`.
type forecastFlags struct {
	tracePath  string
	step       string
	season     string
	season2    string
	horizon    string
	train      string
	refit      string
	interval   float64
	clip       float64
	noAR1      bool
	lossH      int
	lossName   string
	outPath    string
	reportPath string
}

// forecastPlan is the validated run, in steps of the model.
type forecastPlan struct {
	series   trace.Series
	source   string
	stepMin  int
	period   int
	period2  int
	horizon  int
	train    int
	refit    int
	interval float64
	clip     float64
	noAR1    bool
	lossH    int
	loss     predictor.Loss
}

func newForecastCommand() *cobra.Command {
	f := forecastFlags{}
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Rolling-origin forecasts of a per-minute trace (strictly causal)",
		Long: `Sum a per-minute trace (CSV "unix_minute,requests") into steps, fit on the first
--train, refit every --refit on the trailing --train window, and from every origin after
that forecast the step --horizon ahead using data up to the origin only.

Output CSV: unix_minute,actual,forecast,lower,upper (unix_minute is the first minute of
the forecast step; lower/upper bound the central --interval prediction interval).
Without --trace a built-in synthetic four-week trace is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := f.plan()
			if err != nil {
				return err
			}
			return runForecast(plan, f.outPath, f.reportPath, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.tracePath, "trace", "", "per-minute trace CSV (header unix_minute,requests); empty: built-in synthetic trace")
	fs.StringVar(&f.step, "step", "5m", "model step: minutes are summed into steps of this length")
	fs.StringVar(&f.season, "season", "1d", "season length (a multiple of --step); 0 for none")
	fs.StringVar(&f.season2, "season2", "", "optional second season, a multiple of --season (e.g. 7d)")
	fs.StringVar(&f.horizon, "horizon", "15m", "how far ahead each forecast is (a multiple of --step)")
	fs.StringVar(&f.train, "train", "7d", "length of the fitting window")
	fs.StringVar(&f.refit, "refit", "1d", "refit period; between refits the model is updated in O(1) per step")
	fs.Float64Var(&f.interval, "interval", 0.8, "coverage of the central prediction interval, in (0, 1)")
	fs.Float64Var(&f.clip, "clip", 5, "robust updating: clip one-step errors beyond this many error scales (0 = off)")
	fs.BoolVar(&f.noAR1, "no-ar1", false, "drop the AR(1) error adjustment")
	fs.IntVar(&f.lossH, "loss-horizon", 0, "fit parameters to the errors this many steps ahead (0 = one step)")
	fs.StringVar(&f.lossName, "loss", "absolute", "fitting loss: absolute (Laplace likelihood) or squared (Gaussian)")
	fs.StringVar(&f.outPath, "out", "-", "output CSV file, - for standard output")
	fs.StringVar(&f.reportPath, "report", "", "write a JSON report (models, fit times) to this file")
	return cmd
}

// plan validates the flags against each other and the trace.
func (f forecastFlags) plan() (forecastPlan, error) {
	p := forecastPlan{interval: f.interval, clip: f.clip, noAR1: f.noAR1, lossH: f.lossH}
	if !(f.interval > 0 && f.interval < 1) {
		return p, fmt.Errorf("--interval %v must be in (0, 1)", f.interval)
	}
	if f.clip < 0 || math.IsNaN(f.clip) {
		return p, fmt.Errorf("--clip %v must not be negative", f.clip)
	}
	switch f.lossName {
	case "squared":
		p.loss = predictor.LossSquared
	case "absolute":
		p.loss = predictor.LossAbsolute
	default:
		return p, fmt.Errorf("--loss %q must be squared or absolute", f.lossName)
	}
	step, err := parseFlagDuration("step", f.step)
	if err != nil {
		return p, err
	}
	if step < time.Minute || step%time.Minute != 0 {
		return p, fmt.Errorf("--step %q must be a whole number of minutes", f.step)
	}
	p.stepMin = int(step / time.Minute)
	if p.period, err = stepsOf("season", f.season, "step", step, true); err != nil {
		return p, err
	}
	if f.season2 != "" {
		if p.period2, err = stepsOf("season2", f.season2, "step", step, true); err != nil {
			return p, err
		}
		if p.period2 > 0 && (p.period == 0 || p.period2%p.period != 0 || p.period2 <= p.period) {
			return p, fmt.Errorf("--season2 %q must be a longer multiple of --season %q", f.season2, f.season)
		}
	}
	if p.horizon, err = stepsOf("horizon", f.horizon, "step", step, false); err != nil {
		return p, err
	}
	if p.train, err = stepsOf("train", f.train, "step", step, false); err != nil {
		return p, err
	}
	if p.refit, err = stepsOf("refit", f.refit, "step", step, false); err != nil {
		return p, err
	}
	if f.lossH < 0 || f.lossH > p.train {
		return p, fmt.Errorf("--loss-horizon %d must be 0 (one step) or a number of steps up to the %d of --train %s", f.lossH, p.train, f.train)
	}
	if err := p.loadSeries(f.tracePath, step); err != nil {
		return p, err
	}
	if p.series.Len() < p.train+p.horizon {
		return p, fmt.Errorf("--train %s plus --horizon %s need %d steps of %s, the trace has %d",
			f.train, f.horizon, p.train+p.horizon, f.step, p.series.Len())
	}
	return p, nil
}

func (p *forecastPlan) loadSeries(path string, step time.Duration) error {
	var minutes trace.Series
	var err error
	if path == "" {
		minutes, err = trace.Synthesize(trace.DefaultSynthOptions())
		p.source = "synthetic"
	} else {
		minutes, err = trace.ReadFile(path)
		p.source = path
	}
	if err != nil {
		return err
	}
	p.series, err = minutes.Aggregate(int(step / time.Minute))
	return err
}

func parseFlagDuration(name, value string) (time.Duration, error) {
	d, err := config.ParseDuration(value)
	if errors.Is(err, config.ErrDurationRange) {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	if err != nil {
		return 0, fmt.Errorf("--%s %q is not a duration (e.g. 90s, 5m, 1d, 1w)", name, value)
	}
	return d, nil
}

// stepsOf converts a duration flag into a whole number of steps.
func stepsOf(name, value, stepName string, step time.Duration, zeroOK bool) (int, error) {
	d, err := parseFlagDuration(name, value)
	if err != nil {
		return 0, err
	}
	if d == 0 && zeroOK {
		return 0, nil
	}
	if d <= 0 {
		return 0, fmt.Errorf("--%s %q must be positive", name, value)
	}
	if d%step != 0 {
		return 0, fmt.Errorf("--%s %q is not a multiple of --%s %q", name, value, stepName, config.FormatDuration(step))
	}
	return int(d / step), nil
}

// forecastReport is the JSON written by --report.
type forecastReport struct {
	Source           string    `json:"source"`
	StepMinutes      int       `json:"step_minutes"`
	Period           int       `json:"period"`
	Period2          int       `json:"period2,omitempty"`
	HorizonSteps     int       `json:"horizon_steps"`
	TrainSteps       int       `json:"train_steps"`
	Fits             int       `json:"fits"`
	FitSeconds       []float64 `json:"fit_seconds"`
	FitSecondsMedian float64   `json:"fit_seconds_median"`
	Models           []string  `json:"models"`
	Notes            []string  `json:"notes,omitempty"`
	Rows             int       `json:"rows"`
	MASE             jsonFloat `json:"mase"`
	NaiveMASE        jsonFloat `json:"seasonal_naive_mase"`
	Coverage         jsonFloat `json:"coverage"`
	MissingSteps     int       `json:"missing_steps"`
	RefusedSteps     int       `json:"refused_steps"`
	OutageSteps      int       `json:"outage_steps"`
}

// jsonFloat is a float64 that encodes NaN and ±Inf, which JSON lacks, as
// null: MASE is undefined when the training data have no seasonal variation
// (scale 0) or no actual value was observed, and encoding/json would fail the
// whole report on it.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// runForecast walks the origins and writes one row per forecast.
func runForecast(p forecastPlan, outPath, reportPath string, stdout, stderr io.Writer) error {
	out, closeOut, err := openOutput(outPath, stdout)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	report := forecastReport{Source: p.source, StepMinutes: p.stepMin, Period: p.period, Period2: p.period2,
		HorizonSteps: p.horizon, TrainSteps: p.train, MissingSteps: p.series.Missing()}
	rerr := rollForecasts(p, w, &report)
	if ferr := w.Flush(); rerr == nil {
		rerr = ferr
	}
	if cerr := closeOut(); rerr == nil {
		rerr = cerr
	}
	if rerr != nil {
		return rerr
	}
	fmt.Fprintf(stderr, "forecast: %s, %d rows, %d fits (median %.3fs)\n", p.source, report.Rows, report.Fits, report.FitSecondsMedian)
	if report.RefusedSteps > 0 {
		fmt.Fprintln(stderr, "refused: "+report.Notes[0])
	}
	fmt.Fprintf(stderr, "accuracy: MASE %.3f (seasonal naive %.3f), %.0f%% interval covered %.1f%% of actuals\n",
		report.MASE, report.NaiveMASE, 100*p.interval, 100*report.Coverage)
	fmt.Fprintf(stderr, "last model: %s\n", report.Models[len(report.Models)-1])
	if reportPath != "" {
		return writeJSON(reportPath, report)
	}
	return nil
}

func rollForecasts(p forecastPlan, w io.Writer, report *forecastReport) error {
	y := p.series.Values
	roll, err := predictor.NewRolling(predictor.RollingOptions{
		Options: predictor.Options{
			Period: p.period, Period2: p.period2, Horizon: p.horizon, Clip: p.clip, NoAR1: p.noAR1, LossHorizon: p.lossH, Loss: p.loss,
		},
		Window:     p.train,
		RefitEvery: p.refit,
	})
	if err != nil {
		return err
	}
	// observe feeds one step and records the fit it may trigger. A refit that
	// fails (a window of missing data, say) keeps the model in hand, which
	// goes on with O(1) updates: degrade, do not stop.
	observe := func(step int) {
		start := time.Now()
		failed := roll.FailedRefits
		// Values were validated when the trace was read; what the
		// forecaster still refuses is implausible beside the rest.
		fitted, _ := roll.Observe(y[step])
		if fitted {
			m := roll.Model()
			report.Fits++
			report.FitSeconds = append(report.FitSeconds, time.Since(start).Seconds())
			report.Models = append(report.Models, m.Spec.String()+" "+m.Params.String())
			for _, n := range m.Notes {
				if !slices.Contains(report.Notes, n) {
					report.Notes = append(report.Notes, n)
				}
			}
		}
		if roll.FailedRefits > failed {
			report.Notes = append(report.Notes, fmt.Sprintf("refit at step %d failed, previous model kept: %v", step, roll.LastError))
		}
	}
	for step := 0; step < p.train; step++ {
		observe(step)
	}
	if roll.Model() == nil {
		return fmt.Errorf("fit on the first %d steps: %w", p.train, roll.LastError)
	}
	if _, err := fmt.Fprintln(w, "unix_minute,actual,forecast,lower,upper"); err != nil {
		return err
	}
	acc := predictor.Accuracy{Scale: predictor.SeasonalNaiveScale(y[:p.train], p.period)}
	for origin := p.train - 1; origin+p.horizon < len(y); origin++ {
		if origin >= p.train {
			observe(origin)
		}
		model := roll.Model()
		target := origin + p.horizon
		fc, err := model.ForecastAt(p.horizon, p.interval)
		if err != nil {
			return err
		}
		if fc.Outage {
			report.OutageSteps++
		}
		if err := writeRow(w, p.series.MinuteAt(target), y[target], fc); err != nil {
			return err
		}
		acc.Add(y[target], fc, seasonalNaive(y, target, p.horizon, p.period))
		report.Rows++
	}
	report.FitSecondsMedian = medianOf(report.FitSeconds)
	noteRefused(roll, report)
	report.MASE, report.NaiveMASE, report.Coverage = jsonFloat(acc.MASE()), jsonFloat(acc.NaiveMASE()), jsonFloat(acc.Coverage())
	return nil
}

// noteRefused puts the steps the forecaster refused first in the notes.
func noteRefused(roll *predictor.Rolling, report *forecastReport) {
	var parts []string
	for _, r := range predictor.Rejections {
		if n := roll.Rejected(r); n > 0 {
			report.RefusedSteps += n
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	if report.RefusedSteps == 0 {
		return
	}
	note := "steps refused and counted as missing: " + strings.Join(parts, ", ")
	if roll.Rejected(predictor.RejectImplausible) > 0 {
		note += fmt.Sprintf(" (more than 100 times the 99th percentile of the fitting window, now %.4g)", roll.PlausibleLimit())
	}
	report.Notes = append([]string{note}, report.Notes...)
}

// seasonalNaive is the value one season before target that was already
// observed at the origin target-horizon (several seasons back when the horizon
// is longer than a season); the previous value without a season.
func seasonalNaive(y []float64, target, horizon, period int) float64 {
	lag := max(period, 1)
	back := lag * ((horizon-1)/lag + 1)
	if target-back < 0 {
		return math.NaN()
	}
	return y[target-back]
}

func writeRow(w io.Writer, minute int64, actual float64, fc predictor.Forecast) error {
	a := ""
	if !math.IsNaN(actual) {
		a = strconv.FormatFloat(actual, 'f', -1, 64)
	}
	_, err := fmt.Fprintf(w, "%d,%s,%s,%s,%s\n", minute, a, fmtNum(fc.Mean), fmtNum(fc.Lower), fmtNum(fc.Upper))
	return err
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--out: %w", err)
	}
	return f, f.Close, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
