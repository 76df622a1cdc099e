package scaler

import (
	"strings"
	"testing"
	"time"
)

// flat returns n forecast steps of v requests per minute.
func flat(n int, v PerMinute) []Step {
	f := make([]Step, n)
	for i := range f {
		f[i] = Step{Mean: v, Upper: v}
	}
	return f
}

// withPeak returns a flat forecast with a block of higher demand at steps
// [from, to) (0-based: step i is i+1 steps ahead).
func withPeak(n int, base, peak PerMinute, from, to int) []Step {
	f := flat(n, base)
	for i := from; i < to; i++ {
		f[i] = Step{Mean: peak, Upper: peak}
	}
	return f
}

// base is a target: 1-minute steps, 3 minutes of start-up, a 5-minute guard,
// 100 requests per minute per replica, user floor 2, max 20, room for 12.
func base() Inputs {
	return Inputs{
		StepLength:       time.Minute,
		Forecast:         flat(10, 500),
		Lead:             3 * time.Minute,
		Guard:            5 * time.Minute,
		ReplicaCapacity:  100,
		UserMinReplicas:  2,
		MaxReplicas:      20,
		CurrentFloor:     5,
		CurrentReplicas:  5,
		CapacityReplicas: 12,
		DataOK:           true,
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*Inputs)
		floor  int32
		reason Reason
		ramp   bool
	}{
		{"steady demand keeps the floor", func(in *Inputs) {}, 5, ReasonForecast, false},
		{"ramp within the lead time raises now", func(in *Inputs) {
			in.Forecast = withPeak(10, 500, 850, 2, 4) // step 3 of the 3-minute lead
		}, 9, ReasonForecast, true},
		{"the step new pods become Ready in raises now", func(in *Inputs) {
			in.Forecast = withPeak(10, 500, 850, 3, 5) // from 3 to 5 minutes ahead
		}, 9, ReasonForecast, true},
		{"ramp beyond the lead time waits", func(in *Inputs) {
			in.Forecast = withPeak(10, 500, 850, 4, 6) // from 4 minutes ahead: not yet
		}, 5, ReasonForecast, false},
		{"elapsed time brings a ramp within reach", func(in *Inputs) {
			in.Elapsed = 75 * time.Second // a scrape lag and most of a step: pods Ready at 4:15
			in.Forecast = withPeak(10, 500, 850, 4, 6)
		}, 9, ReasonForecast, true},
		{"upper quantile, not the mean, sizes the floor", func(in *Inputs) {
			in.Forecast = flat(10, 500)
			in.Forecast[0].Upper = 610
		}, 7, ReasonForecast, true},
		{"a longer step keeps demand per minute", func(in *Inputs) {
			in.StepLength = 5 * time.Minute
			in.Forecast = flat(4, 500) // the mean rate over each 5 minutes
		}, 5, ReasonForecast, false},
		{"below the user's minimum", func(in *Inputs) {
			in.Forecast = flat(10, 50)
			in.CurrentFloor = 2
		}, 2, ReasonUserMin, false},
		{"above maxReplicas", func(in *Inputs) {
			in.Forecast = flat(10, 5000)
			in.CapacityReplicas = 100
		}, 20, ReasonMaxReplicas, true},
		{"GPU capacity caps the raise", func(in *Inputs) {
			in.Forecast = flat(10, 1500)
		}, 12, ReasonGPUCapacity, true},
		{"unknown capacity does not cap", func(in *Inputs) {
			in.Forecast = flat(10, 1500)
			in.CapacityReplicas = -1
		}, 15, ReasonForecast, true},
		{"user minimum wins over capacity", func(in *Inputs) {
			in.UserMinReplicas = 14
			in.CurrentFloor = 14
		}, 14, ReasonUserMin, false},
		{"demand returning within the guard holds the floor", func(in *Inputs) {
			in.CurrentFloor, in.CurrentReplicas = 9, 9
			in.Forecast = withPeak(10, 300, 850, 5, 7) // back at step 6, inside lead+guard
		}, 9, ReasonScaleDownGuard, false},
		{"drop after the guard lowers at a bounded rate", func(in *Inputs) {
			in.CurrentFloor, in.CurrentReplicas = 10, 10
			in.Forecast = flat(10, 100)
			in.MaxStepDownPercent = 20
		}, 8, ReasonScaleDownGuard, false},
		{"small floors still step down by one", func(in *Inputs) {
			in.CurrentFloor, in.CurrentReplicas = 4, 4
			in.Forecast = flat(10, 100)
			in.MaxStepDownPercent = 20
		}, 3, ReasonScaleDownGuard, false},
		{"drop without a rate bound goes straight down", func(in *Inputs) {
			in.CurrentFloor, in.CurrentReplicas = 10, 10
			in.Forecast = flat(10, 300)
		}, 3, ReasonForecast, false},
		{"raise limit", func(in *Inputs) {
			in.Forecast = flat(10, 1100)
			in.MaxRaise = 3
		}, 8, ReasonRampLimit, true},
		{"stale data never lowers", func(in *Inputs) {
			in.CurrentFloor = 9
			in.Forecast = flat(10, 0)
			in.DataOK = false
		}, 9, ReasonFallback, false},
		{"forecast too short falls back", func(in *Inputs) {
			in.Forecast = flat(3, 900)
		}, 5, ReasonFallback, false},
		{"a NaN forecast falls back", func(in *Inputs) {
			in.Forecast[1].Upper = PerMinute(nan())
		}, 5, ReasonFallback, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.edit(&in)
			d := Decide(in)
			if d.Floor != c.floor || d.Reason != c.reason || d.RampDue != c.ramp {
				t.Errorf("floor %d reason %s ramp %v (%s); want %d %s %v", d.Floor, d.Reason, d.RampDue, d.Message, c.floor, c.reason, c.ramp)
			}
			if d.Message == "" {
				t.Error("decision without a message")
			}
		})
	}
}

func TestBehaviorOpensScaleUpAheadOfARamp(t *testing.T) {
	in := base()
	in.Forecast = withPeak(10, 500, 2000, 1, 3) // +1500 req/min in one step: 15 replicas/min
	in.CapacityReplicas = -1
	d := Decide(in)
	up := d.Behavior.ScaleUp
	if up == nil || *up.StabilizationWindowSeconds != 0 || up.SelectPolicy != SelectMax {
		t.Fatalf("scale-up %s: want no stabilization and select Max", up)
	}
	// 15 replicas per minute is 3.75 per 15 s: the default 4 pods suffices.
	if pods := up.Policies[1]; pods.Type != PodsPolicy || pods.Value != 4 || pods.PeriodSeconds != 15 {
		t.Errorf("pods policy %+v, want 4 pods per 15 s", pods)
	}
	in.Forecast = withPeak(10, 500, 6500, 1, 3) // 60 replicas per minute: 15 per 15 s
	in.MaxReplicas = 100
	if pods := Decide(in).Behavior.ScaleUp.Policies[1]; pods.Value != 15 {
		t.Errorf("pods policy %+v, want 15 pods per 15 s", pods)
	}
}

// A user whose scale-up policies are already faster keeps them: prescaler's
// are added, and Max selects the most permissive.
func TestBehaviorKeepsTheUsersFasterScaleUp(t *testing.T) {
	in := base()
	in.Forecast = withPeak(10, 500, 2000, 1, 3)
	in.CapacityReplicas = -1
	userPods := Policy{Type: PodsPolicy, Value: 10, PeriodSeconds: 2}
	in.UserBehavior = &Behavior{ScaleUp: &Rules{SelectPolicy: SelectMin, Policies: []Policy{userPods}}}
	up := Decide(in).Behavior.ScaleUp
	if up.SelectPolicy != SelectMax || len(up.Policies) != 3 || up.Policies[2] != userPods {
		t.Errorf("scale-up %s: want prescaler's two policies and the user's, select Max", up)
	}
	if in.UserBehavior.ScaleUp.SelectPolicy != SelectMin || len(in.UserBehavior.ScaleUp.Policies) != 1 {
		t.Error("the user's behavior was modified")
	}
}

// A direction the user disabled is written back as the user wrote it, ramp
// or not: prescaler acts through the floor alone there (the HPA controller
// scales a target below minReplicas up to it whatever the behavior says),
// and the other direction is still planned as usual.
func TestBehaviorKeepsADirectionTheUserDisabled(t *testing.T) {
	disabledRules := func() *Rules {
		return &Rules{StabilizationWindowSeconds: seconds(120), SelectPolicy: SelectDisabled,
			Policies: []Policy{{Type: PodsPolicy, Value: 1, PeriodSeconds: 60}}}
	}
	cases := []struct {
		name     string
		forecast []Step
		user     *Behavior
		// kept is the direction that must come back as the user's; planned
		// the other one, which must differ from the user's (nil: the default).
		kept, planned func(*Behavior) *Rules
		floor         int32
		reason        Reason
	}{
		{"scale-up disabled ahead of a ramp", withPeak(10, 500, 2000, 1, 3), &Behavior{ScaleUp: disabledRules()},
			func(b *Behavior) *Rules { return b.ScaleUp }, func(b *Behavior) *Rules { return b.ScaleDown }, 20, ReasonForecast},
		{"scale-down disabled while demand returns", withPeak(10, 300, 850, 5, 7), &Behavior{ScaleDown: disabledRules()},
			func(b *Behavior) *Rules { return b.ScaleDown }, nil, 9, ReasonScaleDownGuard},
		{"scale-down disabled ahead of a ramp", withPeak(10, 500, 2000, 1, 3), &Behavior{ScaleDown: disabledRules()},
			func(b *Behavior) *Rules { return b.ScaleDown }, func(b *Behavior) *Rules { return b.ScaleUp }, 20, ReasonForecast},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			in.Forecast, in.UserBehavior, in.CapacityReplicas = tc.forecast, tc.user, -1
			d := Decide(in)
			if d.Floor != tc.floor || d.Reason != tc.reason {
				t.Errorf("floor %d (%s), want %d (%s): the floor must carry the forecast", d.Floor, d.Reason, tc.floor, tc.reason)
			}
			if got, want := tc.kept(d.Behavior), tc.kept(tc.user); !rulesEqual(got, want) {
				t.Errorf("disabled direction written as %s, want the user's %s", got, want)
			}
			if got := tc.kept(tc.user); !rulesEqual(got, disabledRules()) {
				t.Errorf("the user's rules were modified in place: %s", got)
			}
			if tc.planned != nil && rulesEqual(tc.planned(d.Behavior), tc.planned(tc.user)) {
				t.Errorf("the direction the user left enabled was not planned: %s", tc.planned(d.Behavior))
			}
		})
	}
}

func TestBehaviorStretchesScaleDownWhileDemandReturns(t *testing.T) {
	in := base()
	userWindow := int32(120)
	in.UserBehavior = &Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: &userWindow,
		Policies: []Policy{{Type: PercentPolicy, Value: 10, PeriodSeconds: 60}}}}
	in.Forecast = withPeak(10, 300, 850, 5, 7)
	d := Decide(in)
	down := d.Behavior.ScaleDown
	if down == nil || *down.StabilizationWindowSeconds != 300 {
		t.Fatalf("scale-down %s: want the 5-minute guard as stabilization", down)
	}
	if len(down.Policies) != 1 || down.Policies[0].Value != 10 {
		t.Errorf("the user's scale-down policies were not kept: %s", down)
	}
	if *in.UserBehavior.ScaleDown.StabilizationWindowSeconds != 120 {
		t.Error("the user's behavior was modified in place")
	}
}

func TestBehaviorIsTheUsersWhenNothingIsDue(t *testing.T) {
	in := base()
	in.UserBehavior = &Behavior{ScaleUp: &Rules{SelectPolicy: SelectDisabled}}
	if d := Decide(in); d.Behavior != in.UserBehavior {
		t.Errorf("behavior %s, want the user's own", d.Behavior)
	}
}

func TestBehaviorEqual(t *testing.T) {
	a := &Behavior{ScaleUp: &Rules{StabilizationWindowSeconds: seconds(0), Policies: []Policy{{PodsPolicy, 4, 15}}}}
	b := &Behavior{ScaleUp: &Rules{StabilizationWindowSeconds: seconds(0), Policies: []Policy{{PodsPolicy, 4, 15}}}}
	c := &Behavior{ScaleUp: &Rules{StabilizationWindowSeconds: seconds(60), Policies: []Policy{{PodsPolicy, 4, 15}}}}
	if !a.Equal(b) || a.Equal(c) || a.Equal(nil) || !(*Behavior)(nil).Equal(nil) {
		t.Error("Equal is wrong")
	}
	if !strings.Contains(c.String(), "60s") {
		t.Errorf("String() = %q", c.String())
	}
}

func BenchmarkDecide(b *testing.B) {
	in := base()
	in.Forecast = withPeak(60, 500, 900, 2, 10)
	in.Lead, in.Guard = 5*time.Minute, 30*time.Minute
	b.ReportAllocs()
	for b.Loop() {
		_ = Decide(in)
	}
}

func nan() float64 { var zero float64; return zero / zero }

// In a trough (the forecast over lead + guard needs 3 replicas, 8 run) the
// scale-down stabilization is cut to the lead time, the user's policies
// kept; not without Troughs, not while demand returns, and never for a user
// who disabled scale-down.
func TestBehaviorInATrough(t *testing.T) {
	userWindow := int32(600)
	user := &Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: &userWindow,
		Policies: []Policy{{Type: PodsPolicy, Value: 2, PeriodSeconds: 60}}}}
	cases := []struct {
		name       string
		change     func(*Inputs)
		wantTrough bool
		wantWindow int32 // 0: the user's behavior untouched
	}{
		{"trough", func(*Inputs) {}, true, 180},
		{"troughs off", func(in *Inputs) { in.Troughs = false }, false, 0},
		{"replicas already at need", func(in *Inputs) { in.CurrentReplicas = 3 }, false, 0},
		{"demand returns within the guard", func(in *Inputs) { in.Forecast = withPeak(10, 300, 850, 5, 7) }, false, 600},
		{"user window shorter than the lead", func(in *Inputs) {
			w := int32(60)
			in.UserBehavior = &Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: &w}}
		}, true, 60},
		{"user disabled scale-down", func(in *Inputs) {
			in.UserBehavior = &Behavior{ScaleDown: &Rules{SelectPolicy: SelectDisabled}}
		}, true, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			in.Troughs, in.UserBehavior = true, user
			in.Forecast = flat(10, 300)
			in.CurrentFloor, in.CurrentReplicas = 8, 8
			tc.change(&in)
			d := Decide(in)
			if d.TroughDue != tc.wantTrough {
				t.Fatalf("TroughDue %v, want %v (floor %d, reason %s)", d.TroughDue, tc.wantTrough, d.Floor, d.Reason)
			}
			down := d.Behavior.ScaleDown
			switch {
			case tc.wantWindow == 0:
				if d.Behavior != in.UserBehavior {
					t.Errorf("behavior %s, want the user's own", d.Behavior)
				}
			case tc.wantWindow < 0:
				if down != in.UserBehavior.ScaleDown {
					t.Errorf("scale-down %s, want the user's disabled rules", down)
				}
			case down == nil || down.StabilizationWindowSeconds == nil || *down.StabilizationWindowSeconds != tc.wantWindow:
				t.Errorf("scale-down %s, want stabilization %ds", down, tc.wantWindow)
			}
		})
	}
	if *user.ScaleDown.StabilizationWindowSeconds != 600 {
		t.Error("the user's behavior was modified in place")
	}
}
