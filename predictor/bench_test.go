package predictor

import (
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
)

// BenchmarkFitNASA1m14d is the headline fit: 14 days of 1-minute NASA data
// with a daily season (1440 steps), all candidates, 15-step intervals.
func BenchmarkFitNASA1m14d(b *testing.B) {
	y := testtraces.Load(b, testtraces.NASA, 1).Values[:14*1440]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(y, Options{Period: 1440, Horizon: 15}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitNASA5m14d: 14 days of 5-minute steps, daily season (288).
func BenchmarkFitNASA5m14d(b *testing.B) {
	y := testtraces.Load(b, testtraces.NASA, 5).Values[:14*288]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(y, Options{Period: 288, Horizon: 3}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate is the per-sample online update between refits.
func BenchmarkUpdate(b *testing.B) {
	y := testtraces.Load(b, testtraces.NASA, 1).Values
	m, err := Fit(y[:14*1440], Options{Period: 1440, Horizon: 15})
	if err != nil {
		b.Fatal(err)
	}
	rest := y[14*1440:]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(rest[i])
		i++
		if i == len(rest) {
			i = 0
		}
	}
}

// BenchmarkPeakQuantile is what a decision asks of a 1-minute model: the
// 0.9-quantile of the peak over the next 15 steps (O(k): 15 point forecasts
// and grid look-ups).
func BenchmarkPeakQuantile(b *testing.B) {
	y := testtraces.Load(b, testtraces.NASA, 1).Values
	m, err := Fit(y[:14*1440], Options{Period: 1440, Horizon: 15, Clip: 5})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.PeakQuantile(15, 0.9); err != nil {
			b.Fatal(err)
		}
	}
}
