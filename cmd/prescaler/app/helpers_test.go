package app_test

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/cmd/prescaler/app"
	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/trace"
)

// runCLI runs the prescaler command tree with args, as main does.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLIWithInput(t, "", args...)
}

func runCLIWithInput(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := app.NewRootCommand(&out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// mustRun is runCLI for a command that must succeed.
func mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("prescaler %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

// synthMinutes is a small synthetic per-minute trace starting on a Monday.
func synthMinutes(t *testing.T, days int) trace.Series {
	t.Helper()
	o := trace.DefaultSynthOptions()
	o.Days = days
	s, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeTrace writes s in the trace format to a file in a fresh temporary
// folder and returns its path.
func writeTrace(t *testing.T, s trace.Series) string {
	t.Helper()
	var buf bytes.Buffer
	if err := trace.Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// forecastRow is one parsed line of `prescaler forecast` output.
type forecastRow struct {
	minute                 int64
	actual                 float64 // NaN when the field is empty
	forecast, lower, upper float64
	raw                    string // the line as written
	rawWithoutActual       string // the line less the actual column
}

const forecastHeader = "unix_minute,actual,forecast,lower,upper"

// parseForecast splits forecast output into rows, checking the header and the
// field syntax.
func parseForecast(t *testing.T, out string) []forecastRow {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != forecastHeader {
		t.Fatalf("header %q, want %q", lines[0], forecastHeader)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	rows := make([]forecastRow, 0, len(records)-1)
	for i, rec := range records[1:] {
		if len(rec) != 5 {
			t.Fatalf("row %d has %d fields: %q", i+1, len(rec), rec)
		}
		r := forecastRow{raw: lines[i+1], rawWithoutActual: rec[0] + "," + rec[2] + "," + rec[3] + "," + rec[4]}
		if r.minute, err = strconv.ParseInt(rec[0], 10, 64); err != nil {
			t.Fatalf("row %d: unix_minute %q: %v", i+1, rec[0], err)
		}
		r.actual = math.NaN()
		if rec[1] != "" {
			if r.actual, err = strconv.ParseFloat(rec[1], 64); err != nil {
				t.Fatalf("row %d: actual %q: %v", i+1, rec[1], err)
			}
		}
		for j, dst := range []*float64{&r.forecast, &r.lower, &r.upper} {
			if *dst, err = strconv.ParseFloat(rec[2+j], 64); err != nil {
				t.Fatalf("row %d: column %d %q: %v", i+1, 2+j, rec[2+j], err)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// stepSum is the value of step k of stepMin minutes from per-minute values,
// written out from the trace contract independently of trace.Aggregate:
// the sum of the minutes, scaled up when some are missing, NaN when all are.
func stepSum(minutes []float64, k, stepMin int) float64 {
	sum, present := 0.0, 0
	for _, v := range minutes[k*stepMin : (k+1)*stepMin] {
		if !math.IsNaN(v) {
			sum += v
			present++
		}
	}
	if present == 0 {
		return math.NaN()
	}
	return sum * float64(stepMin) / float64(present)
}

// isolateConfigEnv blanks the PRESCALER_* environment overrides for the test
// so that the environment the tests run in cannot change config results
// (empty values are ignored). The traces folder variable is kept.
func isolateConfigEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PRESCALER_") && name != testtraces.EnvVar {
			t.Setenv(name, "")
		}
	}
}

func near(a, b, eps float64) bool {
	return math.Abs(a-b) <= eps*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
