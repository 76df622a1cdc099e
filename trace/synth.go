package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SynthOptions shapes a synthetic per-minute demand trace: a daily cycle with a
// weekday/weekend difference, a slow trend, short bursts and count noise. It
// stands in for real traffic in unit tests, examples and demos; the real traces
// used for evaluation live outside the repository.
type SynthOptions struct {
	Seed  uint64
	Start int64 // first unix minute
	Days  int
	// Mean is the average requests per minute over a weekday.
	Mean float64
	// DailyAmplitude is the peak-to-mean ratio minus one of the daily cycle (0..1).
	DailyAmplitude float64
	// WeekendFactor scales Saturday and Sunday demand (1 = no weekly pattern).
	WeekendFactor float64
	// TrendPerDay is the relative growth per day (0.01 = +1 % a day).
	TrendPerDay float64
	// BurstsPerDay is the expected number of bursts a day; each multiplies demand
	// by up to BurstHeight for 5 to 30 minutes.
	BurstsPerDay float64
	BurstHeight  float64
	// Noise is the relative standard deviation of per-minute noise on top of
	// Poisson-like count noise.
	Noise float64
}

// DefaultSynthOptions is a four-week inference-like trace: a busy evening peak,
// quiet nights, lighter weekends and a few bursts a day.
func DefaultSynthOptions() SynthOptions {
	return SynthOptions{
		Seed:           1,
		Start:          29_016_000, // Monday 2025-03-03 00:00 UTC, so days 5 and 6 fall on the weekend
		Days:           28,
		Mean:           300,
		DailyAmplitude: 0.7,
		WeekendFactor:  0.6,
		TrendPerDay:    0.005,
		BurstsPerDay:   3,
		BurstHeight:    1.8,
		Noise:          0.05,
	}
}

// Validate reports the first option outside its domain. The comparisons are
// written so that NaN fails them: a NaN option would otherwise turn every
// value of the trace into NaN (read back as missing minutes).
func (o SynthOptions) Validate() error {
	switch {
	case o.Days <= 0:
		return fmt.Errorf("days: %d must be positive", o.Days)
	case !(o.Mean > 0) || math.IsInf(o.Mean, 0):
		return fmt.Errorf("mean: %v must be a positive number", o.Mean)
	case !(o.DailyAmplitude >= 0 && o.DailyAmplitude <= 1):
		return fmt.Errorf("daily amplitude: %v must be in [0, 1]", o.DailyAmplitude)
	case !(o.WeekendFactor > 0) || math.IsInf(o.WeekendFactor, 0):
		return fmt.Errorf("weekend factor: %v must be a positive number", o.WeekendFactor)
	case !(o.TrendPerDay > -1) || math.IsInf(o.TrendPerDay, 0):
		// (1+trend)^days needs a positive base.
		return fmt.Errorf("trend per day: %v must be a number above -1", o.TrendPerDay)
	case !(o.BurstsPerDay >= 0) || math.IsInf(o.BurstsPerDay, 0):
		return fmt.Errorf("bursts per day: %v must be a non-negative number", o.BurstsPerDay)
	case o.BurstsPerDay > 0 && (!(o.BurstHeight >= 1) || math.IsInf(o.BurstHeight, 0)):
		return fmt.Errorf("burst height: %v must be a number of at least 1", o.BurstHeight)
	case !(o.Noise >= 0) || math.IsInf(o.Noise, 0):
		return fmt.Errorf("noise: %v must be a non-negative number", o.Noise)
	}
	return nil
}

// Synthesize draws a trace. The same options always give the same series.
func Synthesize(o SynthOptions) (Series, error) {
	if err := o.Validate(); err != nil {
		return Series{}, fmt.Errorf("synthetic trace: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	n := o.Days * minutesPerDay
	values := make([]float64, n)
	burst := burstTrack(rng, n, o)
	for t := range values {
		day := t / minutesPerDay
		mean := o.Mean * dailyShape(t%minutesPerDay, o.DailyAmplitude) * math.Pow(1+o.TrendPerDay, float64(t)/minutesPerDay)
		if weekday := day % 7; weekday >= 5 {
			mean *= o.WeekendFactor
		}
		mean *= burst[t]
		// Counts: Poisson-like noise (sd = sqrt(mean)) plus relative noise.
		sd := math.Sqrt(mean + (o.Noise*mean)*(o.Noise*mean))
		values[t] = math.Max(0, math.Round(mean+sd*rng.NormFloat64()))
	}
	return Series{Start: o.Start, StepMinutes: 1, Values: values}, nil
}

const minutesPerDay = 24 * 60

// dailyShape is a smooth daily cycle with mean 1: an early-morning trough near
// 06:00 and an evening peak near 21:00, built from two harmonics.
func dailyShape(minuteOfDay int, amplitude float64) float64 {
	x := 2 * math.Pi * float64(minuteOfDay) / minutesPerDay
	shape := 0.8*math.Cos(x-2*math.Pi*(20.0/24)) + 0.2*math.Cos(2*(x-2*math.Pi*(22.0/24)))
	return 1 + amplitude*shape
}

// burstTrack returns a multiplicative factor per minute: 1 outside bursts, a
// triangular bump of random height and length inside.
func burstTrack(rng *rand.Rand, n int, o SynthOptions) []float64 {
	track := make([]float64, n)
	for i := range track {
		track[i] = 1
	}
	if o.BurstsPerDay == 0 {
		return track
	}
	p := o.BurstsPerDay / minutesPerDay
	for start := 0; start < n; start++ {
		if rng.Float64() >= p {
			continue
		}
		length := 5 + rng.IntN(26)
		height := 1 + (o.BurstHeight-1)*(0.5+0.5*rng.Float64())
		for i := 0; i < length && start+i < n; i++ {
			// Rise over the first half, fall over the second.
			frac := 1 - math.Abs(2*float64(i)/float64(length)-1)
			track[start+i] *= 1 + (height-1)*frac
		}
	}
	return track
}
