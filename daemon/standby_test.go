package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/prescaler/prescaler/config"
)

// A standby replica reads, fits and decides like the leader and writes
// nothing: no floor, no restore of a target that leaves or opts out, no
// Event. Promoted, its first loop writes the decision its warm model makes,
// with no history read again: the demand read is the steps since the last
// standby loop.
func TestStandbyDecidesAndWritesNothing(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("out"))
	r.scale.state["out"] = ScaleState{OptedOut: true}
	r.d.SetStandby(true)
	var standby []Outcome
	for i := range 3 {
		standby = r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Minute))
	}
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"))); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening.Add(3*time.Minute))
	if len(r.scale.applied) != 0 || len(r.scale.restored) != 0 || len(r.scale.events) != 0 {
		t.Fatalf("a standby wrote: applied %v, restored %v, events %v", r.scale.applied, r.scale.restored, r.scale.events)
	}
	a := standby[0]
	if !a.Standby || a.Wrote || a.Decision.Floor < 2 || !a.DataFresh || len(a.Errs) > 0 {
		t.Fatalf("standby outcome %+v: want a forecast decision, not written", a)
	}
	reads := len(r.demand.calls)
	var loops dto.Metric
	if err := r.d.metrics.loopDuration.Write(&loops); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(r.d.metrics.wouldWrite); n != 0 || loops.GetHistogram().GetSampleCount() != 0 {
		t.Errorf("a standby exported %d decision series and %d loop durations: they are the leader's", n, loops.GetHistogram().GetSampleCount())
	}

	r.d.SetStandby(false)
	out := r.d.RunOnce(context.Background(), r.evening.Add(4*time.Minute))[0]
	if out.Standby || !out.Wrote || len(r.scale.applied["a"]) != 1 {
		t.Fatalf("first loop as leader: %+v, applied %v", out, r.scale.applied)
	}
	if r.scale.restored["out"] != 1 {
		t.Errorf("the target that left while standing by was restored %d times by the leader, want 1", r.scale.restored["out"])
	}
	if got := r.demand.calls[reads]; !got.Equal(r.evening.Add(3 * time.Minute)) {
		t.Errorf("the leader's first read starts at %s, want %s: the standby's model is current", got, r.evening.Add(3*time.Minute))
	}
}

// Run wakes at once when the replica is promoted, instead of at its next
// tick.
func TestPromotionStartsALoopAtOnce(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	cfg := testConfig(testTarget("a"))
	cfg.Interval = config.Duration(time.Hour)
	if err := r.d.Update(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r.d.SetStandby(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return r.d.lastLoop.Load() != 0 }, "the first, standby, loop")
	r.d.SetStandby(false)
	waitFor(t, func() bool {
		r.scale.mu.Lock()
		defer r.scale.mu.Unlock()
		return len(r.scale.applied["a"]) == 1
	}, "a write right after the promotion (the interval is an hour)")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
