package main

import (
	"math"
	"testing"
)

func TestSteps(t *testing.T) {
	cases := []struct {
		text    string
		step    int
		want    int
		wantErr bool
	}{
		{"15m", 1, 15, false},
		{"15m", 5, 3, false},
		{"1h", 5, 12, false},
		{"7d", 1, 7 * 1440, false},
		{"7m", 5, 0, true}, // not a multiple of the step
		{"5", 1, 0, true},  // no unit
		{"0m", 1, 0, true}, // not positive
		{"1.5h", 1, 0, true},
	}
	for _, c := range cases {
		got, err := steps(c.text, c.step)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("steps(%q, %d) = %d, %v; want %d, error %v", c.text, c.step, got, err, c.want, c.wantErr)
		}
	}
}

func TestPinballAndIntervalScore(t *testing.T) {
	const eps = 1e-12
	pinballs := []struct{ quantile, y, q, want float64 }{
		{10, 8, 0.9, 0.1 * 2},  // covered: (1 − q)·(Q − y)
		{10, 14, 0.9, 0.9 * 4}, // missed: q·(y − Q)
		{10, 10, 0.9, 0},
	}
	for _, c := range pinballs {
		if got := pinball(c.quantile, c.y, c.q); math.Abs(got-c.want) > eps {
			t.Errorf("pinball(%v, %v, %v) = %v, want %v", c.quantile, c.y, c.q, got, c.want)
		}
	}
	// Interval [10, 20] at 80 %: width 10, plus 2/0.2 = 10 per unit missed.
	scores := []struct{ y, want float64 }{{15, 10}, {8, 10 + 10*2}, {23, 10 + 10*3}}
	for _, c := range scores {
		if got := intervalScore(10, 20, c.y, 0.2); math.Abs(got-c.want) > eps {
			t.Errorf("intervalScore(10, 20, %v) = %v, want %v", c.y, got, c.want)
		}
	}
}
