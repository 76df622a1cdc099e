package trace_test

import (
	"math"
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/trace"
)

// TestReadNASATrace reads the real NASA 1995 trace (see shared/traces/README.md)
// and checks figures computed independently from the file: 89 281 rows from
// 1995-07-01 00:00 EDT, zero-filled, with the Jul 28 – Aug 1 hole as zeros.
func TestReadNASATrace(t *testing.T) {
	s, err := trace.ReadFile(testtraces.Path(t, testtraces.NASA))
	if err != nil {
		t.Fatal(err)
	}
	const (
		rows      = 89281
		first     = 13409520 // 1995-07-01T04:00Z
		last      = 13498800
		total     = 3461610
		peak      = 405
		zeros     = 7884
		lastValue = 7
	)
	if s.Len() != rows || s.Start != first || s.MinuteAt(s.Len()-1) != last || s.StepMinutes != 1 {
		t.Fatalf("Len %d, minutes %d…%d, step %d; want %d, %d…%d, 1", s.Len(), s.Start, s.MinuteAt(s.Len()-1), s.StepMinutes, rows, first, last)
	}
	if s.Missing() != 0 {
		t.Errorf("Missing = %d, want 0 (the file is zero-filled)", s.Missing())
	}
	sum, maxV, nz := 0.0, 0.0, 0
	for _, v := range s.Values {
		sum += v
		maxV = math.Max(maxV, v)
		if v == 0 {
			nz++
		}
	}
	if sum != total || maxV != peak || nz != zeros {
		t.Errorf("sum, max, zeros = %v, %v, %d; want %d, %d, %d", sum, maxV, nz, total, peak, zeros)
	}

	// 89 281 minutes are 62 days and one minute: the last minute is a
	// trailing partial day and is dropped.
	days, err := s.Aggregate(1440)
	if err != nil {
		t.Fatal(err)
	}
	if days.Len() != 62 {
		t.Fatalf("daily Len = %d, want 62", days.Len())
	}
	daySum := 0.0
	for _, v := range days.Values {
		daySum += v
	}
	if daySum != total-lastValue {
		t.Errorf("sum of daily steps = %v, want %d (total less the dropped last minute)", daySum, total-lastValue)
	}
	for k, want := range map[int]float64{0: 64714, 1: 60265, 27: 27120, 28: 0, 29: 0, 30: 0, 31: 33996, 32: 0} {
		if days.Values[k] != want {
			t.Errorf("day %d (from minute %d) = %v, want %v", k, days.MinuteAt(k), days.Values[k], want)
		}
	}

	fives, err := s.Aggregate(5)
	if err != nil {
		t.Fatal(err)
	}
	if fives.Len() != rows/5 || fives.Missing() != 0 {
		t.Errorf("5-minute Len, Missing = %d, %d; want %d, 0", fives.Len(), fives.Missing(), rows/5)
	}
}
