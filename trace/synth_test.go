package trace_test

import (
	"math"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

func TestSynthesizeIsDeterministic(t *testing.T) {
	o := trace.DefaultSynthOptions()
	a, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	if a.Start != b.Start || a.StepMinutes != b.StepMinutes || len(a.Values) != len(b.Values) {
		t.Fatalf("two draws differ in shape: %d/%d/%d vs %d/%d/%d", a.Start, a.StepMinutes, a.Len(), b.Start, b.StepMinutes, b.Len())
	}
	for i := range a.Values {
		if math.Float64bits(a.Values[i]) != math.Float64bits(b.Values[i]) {
			t.Fatalf("minute %d: %v then %v for the same seed", i, a.Values[i], b.Values[i])
		}
	}
}

func TestSynthesizeSeedsDiffer(t *testing.T) {
	o := trace.DefaultSynthOptions()
	o.Days = 2
	a, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Seed++
	b, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			differ++
		}
	}
	// Count noise alone (sd ≥ sqrt(mean)) makes nearly every minute differ.
	if differ < a.Len()/2 {
		t.Errorf("seeds %d and %d differ in %d of %d minutes, want most", o.Seed-1, o.Seed, differ, a.Len())
	}
}

func TestSynthesizeShape(t *testing.T) {
	def := trace.DefaultSynthOptions()
	quiet := def
	quiet.BurstsPerDay, quiet.TrendPerDay, quiet.Noise = 0, 0, 0
	cases := []struct {
		name string
		opts trace.SynthOptions
	}{
		{"default", def},
		{"no bursts, trend or extra noise", quiet},
		{"full daily amplitude reaches zero demand", withOpts(def, func(o *trace.SynthOptions) { o.DailyAmplitude = 1 })},
		{"shrinking demand", withOpts(def, func(o *trace.SynthOptions) { o.TrendPerDay = -0.5 })},
		{"tiny mean", withOpts(def, func(o *trace.SynthOptions) { o.Mean = 0.01; o.Days = 3 })},
		{"one day from an odd start", withOpts(def, func(o *trace.SynthOptions) { o.Days = 1; o.Start = -7 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := trace.Synthesize(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != c.opts.Days*1440 || s.Start != c.opts.Start || s.StepMinutes != 1 {
				t.Errorf("Len, Start, StepMinutes = %d, %d, %d; want %d, %d, 1", s.Len(), s.Start, s.StepMinutes, c.opts.Days*1440, c.opts.Start)
			}
			for i, v := range s.Values {
				if !(v >= 0) || math.IsInf(v, 0) || v != math.Round(v) {
					t.Fatalf("minute %d = %v, want a non-negative whole count", i, v)
				}
			}
		})
	}
}

// TestSynthesizeLevels checks the pattern the options describe: the weekday
// mean, the weekend factor, and the phase and amplitude of the daily cycle.
func TestSynthesizeLevels(t *testing.T) {
	o := trace.DefaultSynthOptions()
	o.BurstsPerDay, o.TrendPerDay, o.Surges = 0, 0, nil
	s, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	var weekday, weekend []float64
	hourly := make([]float64, 24) // weekday mean per hour of day
	for i, v := range s.Values {
		day := i / 1440
		if day%7 >= 5 { // the default start is a Monday
			weekend = append(weekend, v)
			continue
		}
		weekday = append(weekday, v)
		hourly[i%1440/60] += v
	}
	mw, me := meanOf(weekday), meanOf(weekend)
	if math.Abs(mw-o.Mean) > 0.01*o.Mean {
		t.Errorf("weekday mean %.2f, want %.0f ± 1 %%", mw, o.Mean)
	}
	if ratio := me / mw; math.Abs(ratio-o.WeekendFactor) > 0.01 {
		t.Errorf("weekend/weekday = %.4f, want %.2f ± 0.01", ratio, o.WeekendFactor)
	}
	// An evening peak near 21:00 and an early-morning trough near 06:00.
	// DailyAmplitude is about the peak-to-mean ratio minus one; an hour's
	// mean sits a little below the instantaneous peak.
	busiest, quietest := 0, 0
	for hour, v := range hourly {
		if v > hourly[busiest] {
			busiest = hour
		}
		if v < hourly[quietest] {
			quietest = hour
		}
	}
	if busiest < 20 || busiest > 21 || quietest < 5 || quietest > 6 {
		t.Errorf("busiest hour %02d:00, quietest %02d:00; want 20-21 and 05-06", busiest, quietest)
	}
	if ratio := hourly[busiest] / (float64(len(weekday)) / 24) / mw; ratio < 1+0.85*o.DailyAmplitude || ratio > 1+o.DailyAmplitude {
		t.Errorf("busiest hour / weekday mean = %.3f, want about 1 + %.2f", ratio, o.DailyAmplitude)
	}

	// With the default bursts and trend, weekends are still clearly lower.
	full, err := trace.Synthesize(trace.DefaultSynthOptions())
	if err != nil {
		t.Fatal(err)
	}
	for week := range full.Len() / (7 * 1440) {
		days := make([]float64, 7)
		for d := range days {
			days[d] = meanOf(full.Values[(week*7+d)*1440 : (week*7+d+1)*1440])
		}
		for _, we := range days[5:] {
			for d, wd := range days[:5] {
				if we >= 0.8*wd {
					t.Errorf("week %d: weekend day mean %.1f not below 0.8 × weekday %d mean %.1f", week, we, d, wd)
				}
			}
		}
	}
}

func TestSynthValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*trace.SynthOptions)
		want string // "" = valid
	}{
		{"defaults", func(*trace.SynthOptions) {}, ""},
		{"no bursts need no height", func(o *trace.SynthOptions) { o.BurstsPerDay, o.BurstHeight = 0, 0 }, ""},
		{"flat profile", func(o *trace.SynthOptions) { o.DailyAmplitude, o.WeekendFactor, o.Noise = 0, 1, 0 }, ""},
		{"zero days", func(o *trace.SynthOptions) { o.Days = 0 }, "days: 0"},
		{"negative days", func(o *trace.SynthOptions) { o.Days = -1 }, "days: -1"},
		{"zero mean", func(o *trace.SynthOptions) { o.Mean = 0 }, "mean: 0"},
		{"negative mean", func(o *trace.SynthOptions) { o.Mean = -5 }, "mean: -5"},
		{"NaN mean", func(o *trace.SynthOptions) { o.Mean = math.NaN() }, "mean: NaN"},
		{"infinite mean", func(o *trace.SynthOptions) { o.Mean = math.Inf(1) }, "mean: +Inf"},
		{"negative amplitude", func(o *trace.SynthOptions) { o.DailyAmplitude = -0.1 }, "daily amplitude: -0.1"},
		{"amplitude above 1", func(o *trace.SynthOptions) { o.DailyAmplitude = 1.1 }, "daily amplitude: 1.1"},
		{"NaN amplitude", func(o *trace.SynthOptions) { o.DailyAmplitude = math.NaN() }, "daily amplitude: NaN"},
		{"zero weekend factor", func(o *trace.SynthOptions) { o.WeekendFactor = 0 }, "weekend factor: 0"},
		{"NaN weekend factor", func(o *trace.SynthOptions) { o.WeekendFactor = math.NaN() }, "weekend factor: NaN"},
		{"infinite weekend factor", func(o *trace.SynthOptions) { o.WeekendFactor = math.Inf(1) }, "weekend factor: +Inf"},
		{"trend of -100 %", func(o *trace.SynthOptions) { o.TrendPerDay = -1 }, "trend per day: -1"},
		{"trend below -100 %", func(o *trace.SynthOptions) { o.TrendPerDay = -2 }, "trend per day: -2"},
		{"NaN trend", func(o *trace.SynthOptions) { o.TrendPerDay = math.NaN() }, "trend per day: NaN"},
		{"negative bursts", func(o *trace.SynthOptions) { o.BurstsPerDay = -1 }, "bursts per day: -1"},
		{"NaN bursts", func(o *trace.SynthOptions) { o.BurstsPerDay = math.NaN() }, "bursts per day: NaN"},
		{"burst height below 1", func(o *trace.SynthOptions) { o.BurstHeight = 0.5 }, "burst height: 0.5"},
		{"NaN burst height", func(o *trace.SynthOptions) { o.BurstHeight = math.NaN() }, "burst height: NaN"},
		{"negative noise", func(o *trace.SynthOptions) { o.Noise = -0.1 }, "noise: -0.1"},
		{"NaN noise", func(o *trace.SynthOptions) { o.Noise = math.NaN() }, "noise: NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := withOpts(trace.DefaultSynthOptions(), c.edit)
			err := o.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("Validate error = %v, want one starting %q", err, c.want)
			}
			o.Days = min(o.Days, 1) // keep the failing draw cheap
			if _, serr := trace.Synthesize(o); serr == nil || !strings.Contains(serr.Error(), c.want) {
				t.Errorf("Synthesize error = %v, want one containing %q", serr, c.want)
			}
		})
	}
}

func withOpts(o trace.SynthOptions, edit func(*trace.SynthOptions)) trace.SynthOptions {
	edit(&o)
	return o
}

func meanOf(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// Weekday surges multiply demand at their minutes, ramp up within Ramp
// minutes, and leave weekends alone.
func TestSynthesizeSurges(t *testing.T) {
	o := trace.DefaultSynthOptions()
	o.BurstsPerDay, o.TrendPerDay, o.Noise = 0, 0, 0
	plain := o
	plain.Surges = nil
	o.Surges = []trace.Surge{{At: 600, Length: 20, Ramp: 2, Height: 3}}
	with, err := trace.Synthesize(o)
	if err != nil {
		t.Fatal(err)
	}
	without, err := trace.Synthesize(plain)
	if err != nil {
		t.Fatal(err)
	}
	ratio := func(day, minute int) float64 {
		i := day*1440 + minute
		return with.Values[i] / without.Values[i]
	}
	// Count noise differs between the two draws; compare on averages.
	if r := (ratio(0, 605) + ratio(1, 605) + ratio(2, 605)) / 3; math.Abs(r-3) > 0.3 {
		t.Errorf("mid-surge ratio %.2f, want about 3", r)
	}
	if r := ratio(0, 599); math.Abs(r-1) > 0.2 {
		t.Errorf("the minute before the surge has ratio %.2f, want 1", r)
	}
	if r := ratio(5, 605); math.Abs(r-1) > 0.2 {
		t.Errorf("a Saturday has ratio %.2f, want no surge", r)
	}
	bad := o
	bad.Surges = []trace.Surge{{At: 1440, Length: 10, Height: 2}}
	if _, err := trace.Synthesize(bad); err == nil || !strings.Contains(err.Error(), "surges[0].at: 1440") {
		t.Errorf("error %v, want one naming surges[0].at", err)
	}
}
