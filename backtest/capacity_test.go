package backtest

import (
	"math"
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
	"github.com/prescaler/prescaler/trace"
)

func TestSizingPeak(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name        string
		minutes     []float64
		peak        float64
		ignored     int
		description string
	}{
		{"one outlier minute", []float64{400, 410, 390, 1e11, 405, 400}, 410, 1, "left out"},
		{"two outliers apart", []float64{400, 3e38, 390, 400, 1e9, 405}, 405, 2, "left out"},
		{"a burst of two minutes", []float64{400, 410, 1500, 1600, 405, 400}, 1600, 0, "kept: a median of three sees it"},
		{"a single burst minute under twice the sustained peak", []float64{300, 330, 340, 405, 330, 320}, 405, 0, "kept"},
		{"a missing minute beside the outlier", []float64{400, nan, 1e11, 410, 400}, 410, 1, "the window takes the lower value"},
		{"isolated minutes only", []float64{0, 0, 7, 0, 0, 9, 0}, 9, 0, "no sustained peak: the maximum"},
		{"too short to judge", []float64{5, 1e9}, 1e9, 0, "the maximum"},
		{"nothing", nil, 0, 0, "zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peak, ignored := SizingPeak(tt.minutes)
			if peak != tt.peak || ignored != tt.ignored {
				t.Errorf("SizingPeak(%v) = %v, %d ignored; want %v, %d (%s)", tt.minutes, peak, ignored, tt.peak, tt.ignored, tt.description)
			}
		})
	}
}

// On the real traces the sizing peak is the peak minute: the backtests'
// derived capacities, and every result built on them, are unchanged.
func TestSizingPeakOnRealTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("real traces skipped in -short mode")
	}
	for _, name := range []string{testtraces.NASA, testtraces.ServeGen, testtraces.AzureConv, "twitter_stream_2021_08_first11d.per_minute.csv"} {
		s, err := trace.ReadFile(testtraces.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		maximum := 0.0
		for _, v := range s.Values {
			if v > maximum {
				maximum = v
			}
		}
		if peak, ignored := SizingPeak(s.Values); peak != maximum || ignored != 0 {
			t.Errorf("%s: sizing peak %v (%d minutes ignored), peak minute %v", name, peak, ignored, maximum)
		}
	}
}
