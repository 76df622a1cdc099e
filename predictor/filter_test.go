package predictor

import (
	"math"
	"testing"
)

const eps = 1e-9

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// The expected values below were computed by hand from the equations in the
// package comment, step by step.
func TestRecursionAdditiveDamped(t *testing.T) {
	spec := Spec{Trend: TrendDamped, Season: SeasonAdditive, Period: 2}
	p := Params{Alpha: 0.5, Beta: 0.1, Gamma: 0.2, Phi: 0.9}
	st := state{level: 10, trend: 1, season: []float64{1, -1}}

	// y=13: base = 10 + 0.9·1 = 10.9, μ = 11.9, e = 1.1
	st.observe(spec, p, 13, 0)
	checkState(t, "after y=13", st, 11.45, 1.01, []float64{1.22, -1})
	// y=11: base = 11.45 + 0.909 = 12.359, μ = 11.359, e = -0.359
	st.observe(spec, p, 11, 0)
	checkState(t, "after y=11", st, 12.1795, 0.8731, []float64{1.22, -1.0718})

	for _, c := range []struct {
		h    int
		want float64
	}{
		{1, 12.1795 + 0.9*0.8731 + 1.22},              // 14.18529
		{2, 12.1795 + (0.9+0.81)*0.8731 - 1.0718},     // 12.600701
		{3, 12.1795 + (0.9+0.81+0.729)*0.8731 + 1.22}, // season wraps
	} {
		if got := st.forecast(spec, p, c.h); !near(got, c.want, eps) {
			t.Errorf("forecast h=%d = %v, want %v", c.h, got, c.want)
		}
	}
}

func TestRecursionMultiplicative(t *testing.T) {
	spec := Spec{Season: SeasonMultiplicative, Period: 2}
	p := Params{Alpha: 0.5, Gamma: 0.2}
	st := state{level: 10, season: []float64{1.2, 0.8}}
	// y=14: μ = 10·1.2 = 12, e = 2; l = 10 + 0.5·2/1.2; s₀ = 1.2 + 0.2·2/10
	st.observe(spec, p, 14, 0)
	checkState(t, "after y=14", st, 10+1/1.2, 0, []float64{1.24, 0.8})
	if got, want := st.forecast(spec, p, 1), (10+1/1.2)*0.8; !near(got, want, eps) {
		t.Errorf("forecast h=1 = %v, want %v", got, want)
	}
}

func TestRecursionDoubleSeasonal(t *testing.T) {
	spec := Spec{Season: SeasonAdditive, Period: 2, Period2: 4}
	p := Params{Alpha: 0.5, Gamma: 0.2, Gamma2: 0.1}
	st := state{level: 10, season: []float64{1, -1}, season2: []float64{0.5, 0, -0.5, 0}}
	// y=12: μ = 10 + 1 + 0.5 = 11.5, e = 0.5
	st.observe(spec, p, 12, 0)
	checkState(t, "after y=12", st, 10.25, 0, []float64{1.1, -1})
	if got, want := st.season2[0], 0.55; !near(got, want, eps) {
		t.Errorf("season2[0] = %v, want %v", got, want)
	}
	// Next: phase 1 of both seasons; two ahead: phase 0 of season, 2 of season2.
	if got, want := st.forecast(spec, p, 2), 10.25+1.1-0.5; !near(got, want, eps) {
		t.Errorf("forecast h=2 = %v, want %v", got, want)
	}
}

func TestRecursionAR1(t *testing.T) {
	spec := Spec{AR1: true}
	p := Params{Alpha: 0.5, Lambda: 0.5}
	st := state{level: 10}
	// y=12: μ = 10, e = 2, level 11, and the forecast adds λ^h·e.
	if e, ok := st.observe(spec, p, 12, 0); !ok || e != 2 {
		t.Fatalf("observe = %v, %v; want 2, true", e, ok)
	}
	for h, want := range map[int]float64{1: 12, 2: 11.5, 3: 11.25} {
		if got := st.forecast(spec, p, h); !near(got, want, eps) {
			t.Errorf("forecast h=%d = %v, want %v", h, got, want)
		}
	}
	// y=13: μ = 11 (raw), adjusted forecast 12, adjusted error 1; the states
	// move with the raw error 2 (Taylor 2003).
	if e, _ := st.observe(spec, p, 13, 0); e != 1 {
		t.Errorf("adjusted error = %v, want 1", e)
	}
	if st.level != 12 || st.lastErr != 2 {
		t.Errorf("level, lastErr = %v, %v; want 12, 2", st.level, st.lastErr)
	}
}

func TestMissingValueCarriesForecast(t *testing.T) {
	spec := Spec{Trend: TrendDamped, AR1: true}
	p := Params{Alpha: 0.5, Beta: 0.1, Phi: 0.9, Lambda: 0.5}
	st := state{level: 10, trend: 1, lastErr: 2}
	twoStep := st.forecast(spec, p, 2)
	if _, ok := st.observe(spec, p, math.NaN(), 0); ok {
		t.Fatal("a missing value was used")
	}
	if got := st.forecast(spec, p, 1); !near(got, twoStep, eps) {
		t.Errorf("after a gap the one-step forecast is %v, want the earlier two-step %v", got, twoStep)
	}
}

func TestOutageZerosFreezeStates(t *testing.T) {
	spec := Spec{Season: SeasonAdditive, Period: 2}
	p := Params{Alpha: 0.5, Gamma: 0.2}
	st := state{level: 100, season: []float64{10, -10}, scale: 5}
	before := st.clone()
	if _, ok := st.observe(spec, p, 0, 0); ok {
		t.Fatal("a zero 20 scales below the forecast was used as demand")
	}
	if st.inOutage() {
		t.Fatal("one zero declared an outage")
	}
	st.observe(spec, p, 0, 0)
	if !st.inOutage() {
		t.Fatal("two anomalous zeros did not declare an outage")
	}
	if st.level != before.level || st.season[0] != 10 || st.season[1] != -10 {
		t.Errorf("outage moved the states: level %v season %v", st.level, st.season)
	}
	st.observe(spec, p, 111, 0)
	if st.inOutage() {
		t.Error("traffic came back but the outage did not end")
	}
}

func TestPlausibleZeroIsDemand(t *testing.T) {
	spec := Spec{}
	p := Params{Alpha: 0.5}
	st := state{level: 2, scale: 1.5} // a quiet night: zero is within 4 scales
	if _, ok := st.observe(spec, p, 0, 0); !ok {
		t.Fatal("a plausible zero was treated as an outage")
	}
	if st.level != 1 {
		t.Errorf("level = %v, want 1", st.level)
	}
}

func TestClipLimitsStateMove(t *testing.T) {
	spec := Spec{}
	p := Params{Alpha: 1}
	st := state{level: 10, scale: 1}
	st.observe(spec, p, 1000, 5)
	if st.level != 15 {
		t.Errorf("clipped level = %v, want 10 + 5 scales = 15", st.level)
	}
}

func TestDampedSum(t *testing.T) {
	for _, c := range []struct {
		phi  float64
		h    int
		want float64
	}{{1, 4, 4}, {0.9, 1, 0.9}, {0.9, 3, 0.9 + 0.81 + 0.729}, {0.5, 2, 0.75}} {
		if got := dampedSum(c.phi, c.h); !near(got, c.want, eps) {
			t.Errorf("dampedSum(%v, %d) = %v, want %v", c.phi, c.h, got, c.want)
		}
	}
}

func checkState(t *testing.T, when string, st state, level, trend float64, season []float64) {
	t.Helper()
	if !near(st.level, level, eps) || !near(st.trend, trend, eps) {
		t.Errorf("%s: level, trend = %v, %v; want %v, %v", when, st.level, st.trend, level, trend)
	}
	for i := range season {
		if !near(st.season[i], season[i], eps) {
			t.Errorf("%s: season[%d] = %v, want %v", when, i, st.season[i], season[i])
		}
	}
}
