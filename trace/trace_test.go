package trace_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

var nan = math.NaN()

// maxGap is the longest run of missing minutes Read fills (366 days); one more
// is reported as a probable timestamp typo.
const maxGap = 366 * 24 * 60

// sameValues reports whether a and b hold the same values, NaN matching NaN,
// within a relative tolerance of eps.
func sameValues(a, b []float64, eps float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			if math.IsNaN(a[i]) != math.IsNaN(b[i]) {
				return false
			}
			continue
		}
		if math.Abs(a[i]-b[i]) > eps*math.Max(1, math.Max(math.Abs(a[i]), math.Abs(b[i]))) {
			return false
		}
	}
	return true
}

func TestRead(t *testing.T) {
	cases := []struct {
		name    string
		input   string
		start   int64
		values  []float64
		missing int
	}{
		{
			name:   "one row",
			input:  "unix_minute,requests\n100,7\n",
			start:  100,
			values: []float64{7},
		},
		{
			name:   "consecutive minutes, fractional and zero counts",
			input:  "unix_minute,requests\n29016000,12\n29016001,0\n29016002,3.25\n",
			start:  29016000,
			values: []float64{12, 0, 3.25},
		},
		{
			name:   "byte order mark before the header is tolerated",
			input:  "\ufeffunix_minute,requests\n5,1\n6,2\n",
			start:  5,
			values: []float64{1, 2},
		},
		{
			name:   "CRLF line endings and spaces around fields",
			input:  "unix_minute,requests\r\n 5 , 1 \r\n6,2\r\n",
			start:  5,
			values: []float64{1, 2},
		},
		{
			name:   "no newline after the last row",
			input:  "unix_minute,requests\n5,1\n6,2",
			start:  5,
			values: []float64{1, 2},
		},
		{
			name:   "blank lines are skipped",
			input:  "unix_minute,requests\n\n5,1\n   \n6,2\n\n",
			start:  5,
			values: []float64{1, 2},
		},
		{
			name:    "gap between rows becomes NaN",
			input:   "unix_minute,requests\n10,1\n11,2\n14,5\n",
			start:   10,
			values:  []float64{1, 2, nan, nan, 5},
			missing: 2,
		},
		{
			name:    "empty requests field is NaN",
			input:   "unix_minute,requests\n10,1\n11,\n12,3\n",
			start:   10,
			values:  []float64{1, nan, 3},
			missing: 1,
		},
		{
			name:    "nan in any case is NaN",
			input:   "unix_minute,requests\n10,nan\n11,NaN\n12,NAN\n13,4\n",
			start:   10,
			values:  []float64{nan, nan, nan, 4},
			missing: 3,
		},
		{
			name:    "first and last rows may be missing",
			input:   "unix_minute,requests\n10,\n11,2\n13,\n",
			start:   10,
			values:  []float64{nan, 2, nan, nan},
			missing: 3,
		},
		{
			name:   "negative minutes (before the epoch)",
			input:  "unix_minute,requests\n-2,1\n-1,2\n0,3\n",
			start:  -2,
			values: []float64{1, 2, 3},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := trace.Read(strings.NewReader(c.input))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if s.Start != c.start || s.StepMinutes != 1 {
				t.Errorf("Start, StepMinutes = %d, %d; want %d, 1", s.Start, s.StepMinutes, c.start)
			}
			if !sameValues(s.Values, c.values, 0) {
				t.Errorf("Values = %v, want %v", s.Values, c.values)
			}
			if s.Len() != len(c.values) {
				t.Errorf("Len = %d, want %d", s.Len(), len(c.values))
			}
			if got := s.Missing(); got != c.missing {
				t.Errorf("Missing = %d, want %d", got, c.missing)
			}
		})
	}
}

func TestReadLongestGapIsFilled(t *testing.T) {
	input := "unix_minute,requests\n0,1\n" + strconv.Itoa(maxGap+1) + ",2\n"
	s, err := trace.Read(strings.NewReader(input))
	if err != nil {
		t.Fatalf("Read with a gap of %d minutes: %v", maxGap, err)
	}
	if s.Len() != maxGap+2 || s.Missing() != maxGap {
		t.Errorf("Len, Missing = %d, %d; want %d, %d", s.Len(), s.Missing(), maxGap+2, maxGap)
	}
	if s.Values[0] != 1 || s.Values[s.Len()-1] != 2 {
		t.Errorf("first, last = %v, %v; want 1, 2", s.Values[0], s.Values[s.Len()-1])
	}
}

// TestReadErrors checks that every rejection names the line and quotes the
// offending value, so a user can find it in a file of 100 000 rows.
func TestReadErrors(t *testing.T) {
	const h = "unix_minute,requests\n"
	cases := []struct {
		name  string
		input string
		want  []string // substrings of the error
	}{
		{"empty file", "", []string{"empty file", `"unix_minute,requests"`}},
		{"header only", h, []string{"no data rows"}},
		{"header and blank lines only", h + "\n\n", []string{"no data rows"}},
		{"wrong header", "minute,requests\n1,2\n", []string{"line 1", `"minute,requests"`, `want "unix_minute,requests"`}},
		{"header with a third column", "unix_minute,requests,extra\n1,2\n", []string{"line 1", `"unix_minute,requests,extra"`}},
		{"data where the header belongs", "1,2\n2,3\n", []string{"line 1", `"1,2"`}},
		{"non-integer minute", h + "1.5,3\n", []string{"line 2", "unix_minute", `"1.5"`, "not an integer"}},
		{"minute is text", h + "5,1\nnoon,3\n", []string{"line 3", `"noon"`}},
		{"minute out of int64 range", h + "99999999999999999999,3\n", []string{"line 2", `"99999999999999999999"`}},
		{"non-numeric requests", h + "5,1\n6,many\n", []string{"line 3", "requests", `"many"`, "not a finite number"}},
		{"negative requests", h + "5,1\n6,2\n7,-3\n", []string{"line 4", `"-3"`, "negative"}},
		{"infinite requests", h + "5,Inf\n", []string{"line 2", `"Inf"`, "not a finite number"}},
		{"minus infinite requests", h + "5,-Inf\n", []string{"line 2", `"-Inf"`, "not a finite number"}},
		{"overflowing requests", h + "5,1e999\n", []string{"line 2", `"1e999"`, "not a finite number"}},
		{"implausible requests", h + "5,1\n6,2\n7,1e308\n", []string{"line 4", `"1e308"`, "implausible", "1e+12"}},
		{"just beyond the largest count", h + "5,1000000000001\n", []string{"line 2", "implausible"}},
		{"one field", h + "5\n", []string{"line 2", "want 2 fields", `"5"`}},
		{"three fields", h + "5,1,2\n", []string{"line 2", "want 2 fields", `"5,1,2"`}},
		{"repeated minute", h + "5,1\n5,2\n", []string{"line 3", "unix_minute 5 is not after the previous row's 5"}},
		{"decreasing minute", h + "5,1\n6,1\n4,2\n", []string{"line 4", "unix_minute 4 is not after the previous row's 6"}},
		{
			"gap longer than a year",
			h + "0,1\n" + strconv.Itoa(maxGap+2) + ",2\n",
			[]string{"line 3", "unix_minute " + strconv.Itoa(maxGap+2), "gap of " + strconv.Itoa(maxGap+1) + " minutes after 0"},
		},
		{
			// minute - last overflows int64 here: the bound must still hold
			// (it used to be bypassed, and Read tried to allocate 2^64 minutes).
			"gap overflowing int64",
			h + "-9223372036854775807,1\n9223372036854775807,2\n",
			[]string{"line 3", "unix_minute 9223372036854775807", "gap of 18446744073709551613 minutes"},
		},
		{"line numbers count blank lines", h + "5,1\n\n\n6,x\n", []string{"line 5", `"x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trace.Read(strings.NewReader(c.input))
			if err == nil {
				t.Fatalf("Read(%q) succeeded, want an error containing %q", c.input, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	t.Run("names the file in errors", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.csv")
		writeFile(t, path, "unix_minute,requests\n1,-1\n")
		_, err := trace.ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ReadFile error = %v, want it to name %s and line 2", err, path)
		}
	})
	t.Run("missing file wraps fs.ErrNotExist", func(t *testing.T) {
		_, err := trace.ReadFile(filepath.Join(t.TempDir(), "absent.csv"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile error = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestAggregate(t *testing.T) {
	cases := []struct {
		name   string
		in     trace.Series
		step   int
		values []float64
	}{
		{
			name:   "sums whole steps",
			in:     trace.Series{Start: 100, StepMinutes: 1, Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			step:   5,
			values: []float64{15, 40},
		},
		{
			name:   "step equal to the series step copies",
			in:     trace.Series{Start: 100, StepMinutes: 1, Values: []float64{1, nan, 3}},
			step:   1,
			values: []float64{1, nan, 3},
		},
		{
			name:   "trailing partial step is dropped",
			in:     trace.Series{Start: 100, StepMinutes: 1, Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
			step:   5,
			values: []float64{15, 40},
		},
		{
			name:   "series shorter than one step is empty",
			in:     trace.Series{Start: 100, StepMinutes: 1, Values: []float64{1, 2, 3, 4}},
			step:   5,
			values: []float64{},
		},
		{
			name:   "all-missing step is NaN",
			in:     trace.Series{Start: 0, StepMinutes: 1, Values: []float64{1, 1, 1, nan, nan, nan, 2, 2, 2}},
			step:   3,
			values: []float64{3, nan, 6},
		},
		{
			name:   "partly missing step is scaled up from the minutes present",
			in:     trace.Series{Start: 0, StepMinutes: 1, Values: []float64{1, nan, 3, nan, 5, 10, 10, 10, 10, 10}},
			step:   5,
			values: []float64{(1 + 3 + 5) * 5.0 / 3, 50},
		},
		{
			name:   "one minute present stands for the whole step",
			in:     trace.Series{Start: 0, StepMinutes: 1, Values: []float64{nan, nan, nan, 4}},
			step:   4,
			values: []float64{16},
		},
		{
			name:   "re-aggregating an aggregated series",
			in:     trace.Series{Start: 60, StepMinutes: 5, Values: []float64{1, 2, 3, 4, 5, 6, 7}},
			step:   15,
			values: []float64{6, 15},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.Aggregate(c.step)
			if err != nil {
				t.Fatalf("Aggregate(%d): %v", c.step, err)
			}
			if got.Start != c.in.Start || got.StepMinutes != c.step {
				t.Errorf("Start, StepMinutes = %d, %d; want %d, %d", got.Start, got.StepMinutes, c.in.Start, c.step)
			}
			if !sameValues(got.Values, c.values, 1e-12) {
				t.Errorf("Values = %v, want %v", got.Values, c.values)
			}
		})
	}
}

// TestAggregateStepBoundaries marks one minute at a time and checks which step
// receives it: step k covers minutes Start+k*step … Start+k*step+step-1.
func TestAggregateStepBoundaries(t *testing.T) {
	const start, n = 29016000, 47
	for _, step := range []int{1, 2, 5, 15, 47} {
		for i := range n {
			values := make([]float64, n)
			values[i] = 1
			agg, err := trace.Series{Start: start, StepMinutes: 1, Values: values}.Aggregate(step)
			if err != nil {
				t.Fatal(err)
			}
			if agg.Len() != n/step {
				t.Fatalf("step %d: Len = %d, want %d", step, agg.Len(), n/step)
			}
			minute := int64(start + i)
			for k, v := range agg.Values {
				covers := agg.MinuteAt(k) <= minute && minute <= agg.MinuteAt(k)+int64(step)-1
				if want := map[bool]float64{true: 1, false: 0}[covers]; v != want {
					t.Errorf("step %d, minute %d: step %d (from minute %d) = %v, want %v", step, minute, k, agg.MinuteAt(k), v, want)
				}
			}
		}
	}
}

func TestAggregateComposes(t *testing.T) {
	minutes := synth(t, 3)
	direct, err := minutes.Aggregate(60)
	if err != nil {
		t.Fatal(err)
	}
	fives, err := minutes.Aggregate(5)
	if err != nil {
		t.Fatal(err)
	}
	viaFives, err := fives.Aggregate(60)
	if err != nil {
		t.Fatal(err)
	}
	if !sameValues(direct.Values, viaFives.Values, 1e-12) || direct.Start != viaFives.Start {
		t.Errorf("1m→60m and 1m→5m→60m differ:\n%v\n%v", direct.Values, viaFives.Values)
	}
	total, aggTotal := 0.0, 0.0
	for _, v := range minutes.Values {
		total += v
	}
	for _, v := range direct.Values {
		aggTotal += v
	}
	if math.Abs(total-aggTotal) > 1e-9*total {
		t.Errorf("sum over 60m steps %v, over minutes %v", aggTotal, total)
	}
}

func TestAggregateInvalidStep(t *testing.T) {
	cases := []struct {
		name string
		in   trace.Series
		step int
		want string
	}{
		{"zero", trace.Series{StepMinutes: 1, Values: []float64{1}}, 0, "step 0m"},
		{"negative", trace.Series{StepMinutes: 1, Values: []float64{1}}, -5, "step -5m"},
		{"not a multiple of the series step", trace.Series{StepMinutes: 5, Values: []float64{1}}, 7, "series step 5m"},
		{"finer than the series step", trace.Series{StepMinutes: 5, Values: []float64{1}}, 1, "step 1m"},
		// A zero Series used to panic with an integer division by zero.
		{"series without a step", trace.Series{Values: []float64{1, 2}}, 5, "series step 0m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.in.Aggregate(c.step)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Aggregate(%d) error = %v, want one containing %q", c.step, err, c.want)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		s    trace.Series
	}{
		{"integers", trace.Series{Start: 29016000, StepMinutes: 1, Values: []float64{0, 1, 2, 300, 48585}}},
		{"fractions keep every bit", trace.Series{Start: 0, StepMinutes: 1, Values: []float64{0.1, 1.0 / 3, 48585.7, 1e-300, 987654321012.3457, trace.MaxRequestsPerMinute}}},
		{"missing values first, inside and last", trace.Series{Start: -3, StepMinutes: 1, Values: []float64{nan, 1, nan, nan, 2, nan}}},
		{"synthetic week", synth(t, 7)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := trace.Write(&buf, c.s); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !strings.HasPrefix(buf.String(), trace.Header+"\n") {
				t.Fatalf("output does not start with the header: %.40q", buf.String())
			}
			got, err := trace.Read(&buf)
			if err != nil {
				t.Fatalf("Read(Write(s)): %v", err)
			}
			if got.Start != c.s.Start || got.StepMinutes != 1 || !sameValues(got.Values, c.s.Values, 0) {
				t.Errorf("round trip changed the series:\n got %d %v\nwant %d %v", got.Start, head(got.Values), c.s.Start, head(c.s.Values))
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	s := trace.Series{Start: 10, StepMinutes: 1, Values: []float64{1, nan, 2.5}}
	if err := trace.Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	const want = "unix_minute,requests\n10,1\n11,\n12,2.5\n"
	if buf.String() != want {
		t.Errorf("Write = %q, want %q", buf.String(), want)
	}

	err := trace.Write(&bytes.Buffer{}, trace.Series{StepMinutes: 5, Values: []float64{1}})
	if err == nil || !strings.Contains(err.Error(), "5-minute steps") {
		t.Errorf("Write of a 5-minute series: error %v, want one naming the 5-minute step", err)
	}

	werr := errors.New("disk full")
	if err := trace.Write(failingWriter{werr}, synth(t, 1)); !errors.Is(err, werr) {
		t.Errorf("Write to a failing writer = %v, want %v", err, werr)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestSeriesAccessors(t *testing.T) {
	s := trace.Series{Start: 1000, StepMinutes: 5, Values: []float64{1, nan, 3, nan}}
	if s.Len() != 4 || s.Missing() != 2 {
		t.Errorf("Len, Missing = %d, %d; want 4, 2", s.Len(), s.Missing())
	}
	for k, want := range []int64{1000, 1005, 1010, 1015} {
		if got := s.MinuteAt(k); got != want {
			t.Errorf("MinuteAt(%d) = %d, want %d", k, got, want)
		}
	}
}

func synth(t *testing.T, days int) trace.Series {
	t.Helper()
	o := trace.DefaultSynthOptions()
	o.Days = days
	s, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func head(v []float64) []float64 { return v[:min(len(v), 8)] }
