// Package trace reads and writes per-minute request-count series, the exchange
// format of prescaler's command-line tools, and re-buckets them into model steps.
//
// The on-disk format is a CSV file with the header `unix_minute,requests` and one
// row per minute. Minutes missing between two rows become NaN (a gap the
// forecaster fills and counts); rows must be strictly increasing in time.
package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Header is the first line of a trace file.
const Header = "unix_minute,requests"

// MaxRequestsPerMinute is the largest count a trace row may hold: a
// thousand times what the busiest single web services serve (about 1e9
// requests a minute), so any real trace fits, while a corrupted row (1e308,
// a counter written in place of a rate) is reported with its line here
// instead of failing deep in a forecast. Sums of a week of such minutes
// stay far inside the float32 range the forecaster keeps history in.
const MaxRequestsPerMinute = 1e12

// maxGapMinutes bounds the hole a reader will fill with NaN, so that a typo in a
// timestamp is reported instead of allocating years of empty minutes.
const maxGapMinutes = 366 * 24 * 60

// Series is a regular time series: Values[k] covers the StepMinutes minutes that
// start at minute Start + k*StepMinutes. NaN marks a missing observation.
type Series struct {
	Start       int64
	StepMinutes int
	Values      []float64
}

// Len is the number of steps in the series.
func (s Series) Len() int { return len(s.Values) }

// MinuteAt returns the first minute covered by step k.
func (s Series) MinuteAt(k int) int64 { return s.Start + int64(k)*int64(s.StepMinutes) }

// Slice returns steps [from, to) as a series of their own (sharing the
// values).
func (s Series) Slice(from, to int) Series {
	return Series{Start: s.MinuteAt(from), StepMinutes: s.StepMinutes, Values: s.Values[from:to]}
}

// Missing counts the NaN steps.
func (s Series) Missing() int {
	n := 0
	for _, v := range s.Values {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}

// ReadFile reads a per-minute trace file.
func ReadFile(path string) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return Series{}, fmt.Errorf("open trace: %w", err)
	}
	defer func() { _ = f.Close() }()
	s, err := Read(f)
	if err != nil {
		return Series{}, fmt.Errorf("trace %s: %w", path, err)
	}
	return s, nil
}

// Read parses a per-minute trace. Errors name the line and the offending value.
func Read(r io.Reader) (Series, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Series{}, err
		}
		return Series{}, errors.New("empty file: want header " + strconv.Quote(Header))
	}
	if got := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff")); got != Header {
		return Series{}, fmt.Errorf("line 1: header is %q, want %q", got, Header)
	}
	s := Series{StepMinutes: 1}
	var last int64
	line := 2
	for ; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		minute, value, err := parseRow(text)
		if err != nil {
			return Series{}, fmt.Errorf("line %d: %w", line, err)
		}
		if len(s.Values) == 0 {
			s.Start = minute
		} else {
			if minute <= last {
				return Series{}, fmt.Errorf("line %d: unix_minute %d is not after the previous row's %d", line, minute, last)
			}
			// minute > last, so the unsigned difference is exact even where
			// minute - last overflows int64 (which would slip past the bound).
			if gap := uint64(minute-last) - 1; gap > maxGapMinutes {
				return Series{}, fmt.Errorf("line %d: unix_minute %d leaves a gap of %d minutes after %d (more than a year)", line, minute, gap, last)
			}
			for m := last + 1; m < minute; m++ {
				s.Values = append(s.Values, math.NaN())
			}
		}
		s.Values = append(s.Values, value)
		last = minute
	}
	if err := sc.Err(); err != nil {
		return Series{}, fmt.Errorf("line %d: %w", line, err)
	}
	if len(s.Values) == 0 {
		return Series{}, errors.New("no data rows after the header")
	}
	return s, nil
}

func parseRow(text string) (int64, float64, error) {
	minuteField, valueField, ok := strings.Cut(text, ",")
	if !ok || strings.Contains(valueField, ",") {
		return 0, 0, fmt.Errorf("want 2 fields \"unix_minute,requests\", got %q", text)
	}
	minute, err := strconv.ParseInt(strings.TrimSpace(minuteField), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("unix_minute %q is not an integer", minuteField)
	}
	valueField = strings.TrimSpace(valueField)
	if valueField == "" || strings.EqualFold(valueField, "nan") {
		return minute, math.NaN(), nil
	}
	value, err := strconv.ParseFloat(valueField, 64)
	if err != nil || math.IsInf(value, 0) {
		return 0, 0, fmt.Errorf("requests %q is not a finite number", valueField)
	}
	if value < 0 {
		return 0, 0, fmt.Errorf("requests %q is negative", valueField)
	}
	if value > MaxRequestsPerMinute {
		return 0, 0, fmt.Errorf("requests %q is implausible: more than %g a minute", valueField, float64(MaxRequestsPerMinute))
	}
	return minute, value, nil
}

// Write writes a per-minute series in the trace format. NaN becomes an empty
// field. A value Read would refuse is refused here, naming its minute, so
// every file Write produces reads back.
func Write(w io.Writer, s Series) error {
	if s.StepMinutes != 1 {
		return fmt.Errorf("trace files hold 1-minute steps, series has %d-minute steps", s.StepMinutes)
	}
	for k, v := range s.Values {
		if v < 0 || v > MaxRequestsPerMinute { // ±Inf too; NaN passes: missing
			return fmt.Errorf("unix_minute %d: requests %v is not a count in [0, %g]", s.MinuteAt(k), v, float64(MaxRequestsPerMinute))
		}
	}
	bw := bufio.NewWriter(w)
	if _, err := fmt.Fprintln(bw, Header); err != nil {
		return err
	}
	for k, v := range s.Values {
		field := ""
		if !math.IsNaN(v) {
			field = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if _, err := fmt.Fprintf(bw, "%d,%s\n", s.MinuteAt(k), field); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Aggregate sums consecutive steps into steps of stepMinutes minutes: new step k
// covers minutes Start + k*stepMinutes … + stepMinutes-1. A trailing partial
// step is dropped, so every value is a full sum. A step is NaN only when all of
// its minutes are missing; partly missing steps are scaled up from the minutes
// present, so one lost sample does not read as a dip in demand.
func (s Series) Aggregate(stepMinutes int) (Series, error) {
	if s.StepMinutes <= 0 || stepMinutes <= 0 || stepMinutes%s.StepMinutes != 0 {
		return Series{}, fmt.Errorf("step %dm is not a positive multiple of the series step %dm", stepMinutes, s.StepMinutes)
	}
	factor := stepMinutes / s.StepMinutes
	out := Series{Start: s.Start, StepMinutes: stepMinutes, Values: make([]float64, len(s.Values)/factor)}
	for k := range out.Values {
		sum, present := 0.0, 0
		for _, v := range s.Values[k*factor : (k+1)*factor] {
			if !math.IsNaN(v) {
				sum += v
				present++
			}
		}
		switch present {
		case 0:
			out.Values[k] = math.NaN()
		case factor:
			out.Values[k] = sum
		default:
			out.Values[k] = sum * float64(factor) / float64(present)
		}
	}
	return out, nil
}
