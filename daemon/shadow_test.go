package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
)

func TestShadowLedgerCountsAgainstTheFloorOneLeadTimeEarlier(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lead, step := 3*time.Minute, time.Minute
	start := t0.Add(lead) // the step whose pods the floor decided at t0 serves
	for _, c := range []struct {
		name        string
		floor       int32
		perMinute   float64
		want        ShadowCounts
		decidedLate bool
	}{
		{name: "covered", floor: 10, perMinute: 300, want: ShadowCounts{OverloadedMinutes: 1, CoveredMinutes: 1, ExtraReplicaMinutes: 8}},
		{name: "floor too low", floor: 4, perMinute: 300, want: ShadowCounts{OverloadedMinutes: 1, ExtraReplicaMinutes: 2}},
		{name: "not overloaded", floor: 10, perMinute: 80, want: ShadowCounts{ExtraReplicaMinutes: 8}},
		{name: "floor below what ran", floor: 1, perMinute: 300, want: ShadowCounts{OverloadedMinutes: 1}},
		{name: "decided too late to be Ready", floor: 10, perMinute: 300, decidedLate: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l shadowLedger
			decided := t0
			if c.decidedLate {
				decided = t0.Add(time.Second) // Ready only after the step started
			}
			l.record(decided, c.floor, 2)
			l.record(start.Add(30*time.Second), c.floor, 2) // 2 replicas ran during the step
			got, ok := l.account(start, step, lead, c.perMinute, 50)
			if ok == c.decidedLate {
				t.Fatalf("ok %v, want %v", ok, !c.decidedLate)
			}
			if got != c.want {
				t.Errorf("counts %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestShadowLedgerForgetsWhatNoStepNeeds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var l shadowLedger
	for i := range 120 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		l.record(now, 5, 2)
		if i%4 == 3 {
			start := now.Truncate(time.Minute).Add(-time.Minute)
			l.account(start, time.Minute, 3*time.Minute, 100, 50)
		}
	}
	// A lead time of floors (12 loops) plus the step being read, and the
	// replica counts of the step not read yet.
	if len(l.floors) > 20 || len(l.replicas) > 8 {
		t.Errorf("ledger holds %d floors and %d replica counts after 30 minutes", len(l.floors), len(l.replicas))
	}
}

// A shadow target on the daemon's loop: its would-be floor covers an
// evening that two replicas could not serve, and the counters say so.
func TestShadowTargetExportsWhatItsFloorWouldHaveChanged(t *testing.T) {
	tc := testTarget("s")
	tc.Mode = config.ModeShadow
	r := newRig(t, fixedCapacity{n: 40}, tc)
	r.scale.state["s"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 1, CurrentReplicas: 2}
	var floor int32
	for i := range 10 * 4 { // ten minutes of 15-second loops
		out := r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*15*time.Second))[0]
		if out.Wrote || !out.Shadow {
			t.Fatalf("loop %d: wrote %v shadow %v", i, out.Wrote, out.Shadow)
		}
		floor = out.Decision.Floor
	}
	if len(r.scale.applied["s"]) != 0 {
		t.Fatal("a shadow target was written")
	}
	overloaded := testutil.ToFloat64(r.d.metrics.shadowOverloaded.WithLabelValues(labelsOf("s")...)) / 60
	covered := testutil.ToFloat64(r.d.metrics.shadowCovered.WithLabelValues(labelsOf("s")...)) / 60
	extra := testutil.ToFloat64(r.d.metrics.shadowExtra.WithLabelValues(labelsOf("s")...)) / 60
	// ~480 req/min against 2 × 50: every counted minute is overloaded and
	// the ~10-replica floor decided a lead time (3 minutes) earlier covers
	// it. Ten minutes of loops count the steps from the fourth on.
	if overloaded < 5 || overloaded > 8 || covered != overloaded {
		t.Errorf("overloaded %v min, covered %v min: want 5-8, all covered", overloaded, covered)
	}
	if want := float64(floor-2) * overloaded; extra < 0.7*want || extra > 1.3*want {
		t.Errorf("extra replica-minutes %v, want about (floor %d − 2) × %v", extra, floor, overloaded)
	}
}
