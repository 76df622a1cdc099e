package app_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/trace"
)

// TestForecastServeGen runs `prescaler forecast` on the real ServeGen LLM
// serving trace (14 days, see shared/traces/README.md) and scores it here,
// independently of the command's own report: the 80 % interval must cover
// 70–90 % of the actuals, and the MASE must beat seasonal naive's on the same
// rows. MASE (Hyndman & Koehler 2006) divides by the in-sample MAE of the
// one-day-ago naive forecast on the training part.
func TestForecastServeGen(t *testing.T) {
	if testing.Short() {
		t.Skip("real-trace backtest skipped in -short mode")
	}
	path := testtraces.Path(t, testtraces.ServeGen)
	minutes, err := trace.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	stdout, _ := mustRun(t, "forecast", "--trace", path, "--report", reportPath,
		"--step", "5m", "--season", "1d", "--train", "7d", "--horizon", "15m")
	rows := parseForecast(t, stdout)

	const stepMin, period, train, horizon = 5, 288, 7 * 288, 3
	n := len(minutes.Values) / stepMin
	y := make([]float64, n)
	for k := range y {
		y[k] = stepSum(minutes.Values, k, stepMin)
	}
	if want := n - train - horizon + 1; len(rows) != want || want != 2014 {
		t.Fatalf("%d rows, want %d (14 days of 5-minute steps less 7 days of training and 2 steps)", len(rows), want)
	}

	scale := 0.0
	for k := period; k < train; k++ {
		scale += math.Abs(y[k] - y[k-period])
	}
	scale /= float64(train - period)

	var absErr, naiveErr float64
	inside := 0
	for i, r := range rows {
		target := train + horizon - 1 + i
		if want := minutes.Start + int64(target*stepMin); r.minute != want {
			t.Fatalf("row %d: minute %d, want %d", i, r.minute, want)
		}
		if !near(r.actual, y[target], 1e-9) {
			t.Fatalf("row %d: actual %v, want %v", i, r.actual, y[target])
		}
		absErr += math.Abs(r.actual - r.forecast)
		naiveErr += math.Abs(r.actual - y[target-period]) // horizon < period: one day back is known at the origin
		if r.lower <= r.actual && r.actual <= r.upper {
			inside++
		}
	}
	mase := absErr / float64(len(rows)) / scale
	naiveMASE := naiveErr / float64(len(rows)) / scale
	coverage := float64(inside) / float64(len(rows))
	t.Logf("ServeGen 5m, 15m ahead: MASE %.3f, seasonal naive %.3f, 80%% interval coverage %.3f", mase, naiveMASE, coverage)
	if coverage < 0.7 || coverage > 0.9 {
		t.Errorf("80 %% interval covers %.3f of actuals, want 0.7–0.9", coverage)
	}
	if mase >= naiveMASE {
		t.Errorf("MASE %.3f does not beat seasonal naive's %.3f", mase, naiveMASE)
	}

	// The command's own scores agree with the ones computed here (the CSV
	// rounds forecasts to 4 decimals, far below the errors).
	rep := readReport(t, reportPath)
	if rep.Rows != len(rows) || rep.Fits != 7 || len(rep.FitSeconds) != rep.Fits {
		t.Errorf("report: rows %d, fits %d, %d fit_seconds; want %d, 7, 7", rep.Rows, rep.Fits, len(rep.FitSeconds), len(rows))
	}
	if rep.MASE == nil || rep.NaiveMASE == nil || rep.Coverage == nil ||
		!near(*rep.MASE, mase, 1e-6) || !near(*rep.NaiveMASE, naiveMASE, 1e-9) || math.Abs(*rep.Coverage-coverage) > 1.5/float64(len(rows)) {
		t.Errorf("report scores mase %v, seasonal_naive_mase %v, coverage %v; computed %v, %v, %v",
			deref(rep.MASE), deref(rep.NaiveMASE), deref(rep.Coverage), mase, naiveMASE, coverage)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
