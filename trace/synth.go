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
	// Surges recur every weekday at the same time: scheduled batch jobs, a
	// business day opening, a nightly evaluation run. They rise within a few
	// minutes — faster than GPU pods start — and are what a forecaster can
	// see coming and a reactive autoscaler cannot.
	Surges []Surge
}

// Surge multiplies weekday demand by Height from minute of day At for
// Length minutes, rising and falling over Ramp minutes.
type Surge struct {
	At, Length, Ramp int
	Height           float64
}

// DefaultSynthOptions is a four-week inference-like trace: a busy evening peak,
// quiet nights, lighter weekends, a few random bursts a day, and two weekday
// surges (09:00 and 14:30 UTC) that ramp up in two minutes.
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
		Surges: []Surge{
			{At: 9 * 60, Length: 45, Ramp: 2, Height: 2.5},
			{At: 14*60 + 30, Length: 30, Ramp: 2, Height: 2},
		},
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
	for i, s := range o.Surges {
		switch {
		case s.At < 0 || s.At >= minutesPerDay:
			return fmt.Errorf("surges[%d].at: %d must be a minute of the day (0–1439)", i, s.At)
		case s.Length <= 0 || s.Ramp < 0 || 2*s.Ramp > s.Length:
			return fmt.Errorf("surges[%d]: length %d and ramp %d must satisfy 0 ≤ 2·ramp ≤ length, length > 0", i, s.Length, s.Ramp)
		case !(s.Height >= 1) || math.IsInf(s.Height, 0):
			return fmt.Errorf("surges[%d].height: %v must be a number of at least 1", i, s.Height)
		}
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
		if day%7 < 5 {
			mean *= surgeFactor(t%minutesPerDay, o.Surges)
		}
		// Counts: Poisson-like noise (sd = sqrt(mean)) plus relative noise.
		sd := math.Sqrt(mean + (o.Noise*mean)*(o.Noise*mean))
		values[t] = math.Max(0, math.Round(mean+sd*rng.NormFloat64()))
	}
	return Series{Start: o.Start, StepMinutes: 1, Values: values}, nil
}

const minutesPerDay = 24 * 60

// surgeFactor is the product of the surges active at a minute of the day: a
// trapezoid rising over Ramp minutes to Height and falling at the end.
func surgeFactor(minuteOfDay int, surges []Surge) float64 {
	f := 1.0
	for _, s := range surges {
		into := minuteOfDay - s.At
		if into < 0 || into >= s.Length {
			continue
		}
		level := 1.0
		if s.Ramp > 0 {
			level = math.Min(1, math.Min(float64(into+1), float64(s.Length-into))/float64(s.Ramp))
		}
		f *= 1 + (s.Height-1)*level
	}
	return f
}

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
