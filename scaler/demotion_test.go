package scaler

import (
	"math"
	"strings"
	"testing"
)

func TestDemotionPolicyHysteresis(t *testing.T) {
	p := DemotionPolicy{ErrorAbove: 0.5, RecoverBelow: 0.3, ShortAbove: 0.2, MinScored: 60}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		demoted bool
		h       ForecastHealth
		want    bool
		why     string
	}{
		{"too few steps never demote", false, ForecastHealth{WAPE: 5, Scored: 59}, false, ""},
		{"too few steps never promote", true, ForecastHealth{WAPE: 0, Scored: 10}, true, ""},
		{"no score", false, ForecastHealth{WAPE: math.NaN(), Scored: 100}, false, ""},
		{"good stays", false, ForecastHealth{WAPE: 0.2, Scored: 100}, false, ""},
		{"inside the band stays promoted", false, ForecastHealth{WAPE: 0.45, Scored: 100}, false, ""},
		{"error demotes", false, ForecastHealth{WAPE: 0.6, Scored: 100}, true, "forecast error 0.60"},
		{"short forecasts demote", false, ForecastHealth{WAPE: 0.2, Scored: 100, ShortShare: 0.25}, true, "short in 25%"},
		{"inside the band stays demoted", true, ForecastHealth{WAPE: 0.4, Scored: 100}, true, ""},
		{"recovery promotes", true, ForecastHealth{WAPE: 0.25, Scored: 100}, false, "forecasting again"},
		{"still short stays demoted", true, ForecastHealth{WAPE: 0.1, Scored: 100, ShortShare: 0.3}, true, ""},
		{"infinite error demotes", false, ForecastHealth{WAPE: math.Inf(1), Scored: 100}, true, "forecast error +Inf"},
	}
	for _, c := range cases {
		got, why := p.Next(c.demoted, c.h)
		if got != c.want || (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
			t.Errorf("%s: Next(%v, %+v) = %v %q, want %v containing %q", c.name, c.demoted, c.h, got, why, c.want, c.why)
		}
	}
}

func TestDemotionPolicyValidate(t *testing.T) {
	for _, p := range []DemotionPolicy{
		{ErrorAbove: 0, RecoverBelow: 0.1, MinScored: 1},
		{ErrorAbove: 0.5, RecoverBelow: 0.5, MinScored: 1},
		{ErrorAbove: 0.5, RecoverBelow: 0.3, ShortAbove: 1.5, MinScored: 1},
		{ErrorAbove: 0.5, RecoverBelow: 0.3, MinScored: 0},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// A demoted target gets the user's own floor and behavior whatever the
// forecast says, and even without one.
func TestDecideDemoted(t *testing.T) {
	user := &Behavior{}
	d := Decide(Inputs{Demoted: true, UserMinReplicas: 2, CurrentFloor: 9, MaxReplicas: 20, UserBehavior: user})
	if d.Floor != 2 || d.Reason != ReasonDemoted || d.Behavior != user {
		t.Errorf("demoted decision %+v, want floor 2 reason demoted with the user's behavior", d)
	}
}
