package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// gatedDemand holds the history reads (those longer than a day) of the
// targets in slow until open is closed, and counts every read, and every
// history read, by target.
type gatedDemand struct {
	*synthDemand
	slow      map[string]bool
	open      chan struct{}
	mu        sync.Mutex
	reads     map[string]int
	histories map[string]int
}

func (g *gatedDemand) Steps(ctx context.Context, t *config.Target, from, to time.Time) ([]scaler.PerMinute, error) {
	g.mu.Lock()
	g.reads[t.Name]++
	if to.Sub(from) > 24*time.Hour {
		g.histories[t.Name]++
	}
	g.mu.Unlock()
	if g.slow[t.Name] && to.Sub(from) > 24*time.Hour {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.synthDemand.Steps(ctx, t, from, to)
}

// A history read that outlasts the loop's deadline goes on beside the
// loop: the target is reported warming with its object untouched, the warm
// targets are decided meanwhile, and the next loop feeds the read without
// reading the history again.
func TestBackfillOutlastsTheLoopDeadline(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening) // a is warm
	gate := &gatedDemand{synthDemand: r.demand, slow: map[string]bool{"b": true}, open: make(chan struct{}), reads: map[string]int{}, histories: map[string]int{}}
	r.d.src.demand = gate
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"), testTarget("b"))); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	outs := r.d.RunOnce(ctx, r.evening.Add(time.Minute))
	cancel()
	if a := outs[0]; !a.Wrote || !a.DataFresh {
		t.Errorf("warm target a while b warms: wrote %v, fresh %v, errs %v", a.Wrote, a.DataFresh, a.Errs)
	}
	if b := outs[1]; b.Skipped != SkipWarming || b.Wrote || len(b.Errs) > 0 {
		t.Errorf("b while its history is read: skipped %q, wrote %v, errs %v", b.Skipped, b.Wrote, b.Errs)
	}
	if n := len(r.scale.applied["b"]); n != 0 {
		t.Errorf("b's object written %d times while warming", n)
	}
	if st := r.d.Status(); len(st) != 2 || st[1].Skipped != SkipWarming {
		t.Errorf("status while b warms: %+v", st)
	}

	close(gate.open)
	<-r.d.targets["b"].backfill.done
	outs = r.d.RunOnce(context.Background(), r.evening.Add(2*time.Minute))
	if b := outs[1]; !b.Wrote || !b.DataFresh || b.Fits == 0 || len(b.Errs) > 0 {
		t.Errorf("b once its history is in: wrote %v, fresh %v, fits %d, errs %v", b.Wrote, b.DataFresh, b.Fits, b.Errs)
	}
	// The history once, then the steps since the backfill's end.
	if n := gate.reads["b"]; n != 2 {
		t.Errorf("b read %d times, want the history once and the two minutes since", n)
	}
}

// A backfill that fails is started again by the next loop, and the target
// is decided (keeping its floor) with the error, as a failed read is.
func TestFailedBackfillIsReadAgain(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.demand.err = context.DeadlineExceeded
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.DataFresh || len(out.Errs) == 0 {
		t.Fatalf("failed history read: fresh %v, errs %v", out.DataFresh, out.Errs)
	}
	r.demand.mu.Lock()
	r.demand.err = nil
	r.demand.mu.Unlock()
	out = r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]
	if !out.DataFresh || out.Fits == 0 {
		t.Errorf("second loop after a failed history read: fresh %v, fits %d, errs %v", out.DataFresh, out.Fits, out.Errs)
	}
}

// A disabled target takes over its backfill too, so it does not read its
// whole history again every hour (its model is brought up to date by the
// steps since instead); enabled again, it decides at once.
func TestDisabledTargetKeepsItsBackfill(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	gate := &gatedDemand{synthDemand: r.demand, open: make(chan struct{}), reads: map[string]int{}, histories: map[string]int{}}
	close(gate.open)
	r.d.src.demand = gate
	r.scale.state["a"] = ScaleState{Disabled: true}
	for i := range 3 {
		if o := r.d.RunOnce(context.Background(), r.evening.Add(time.Duration(i)*time.Hour))[0]; o.Skipped != "disabled" {
			t.Fatalf("loop %d: skipped %q, want disabled", i, o.Skipped)
		}
	}
	if n := gate.histories["a"]; n != 1 {
		t.Errorf("a disabled target read its history %d times in 3 hours, want once", n)
	}
	delete(r.scale.state, "a")
	o := r.d.RunOnce(context.Background(), r.evening.Add(3*time.Hour))[0]
	if !o.DataFresh || len(o.Forecast) == 0 || len(o.Errs) > 0 || gate.histories["a"] != 1 {
		t.Errorf("enabled again: fresh %v, errs %v, histories read %d", o.DataFresh, o.Errs, gate.histories["a"])
	}
}
