package daemon

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
)

// The checkpoint is written beside the loop. These tests run under -race
// in CI: a record taken while its target moves, or while a config change
// swaps its settings, is a data race there.

// A checkpoint written again and again while loops and config changes run
// holds one whole record per target, and a daemon restored from it decides
// exactly as the one that wrote it. Each record may be of another minute
// (its target before or after some loop's move); the restored daemon reads
// the steps since each record on its first loop, as any restore does.
func TestCheckpointWrittenBesideTheLoopRestoresExactly(t *testing.T) {
	ctx := context.Background()
	targets := []config.Target{testTarget("a"), testTarget("b"), testTarget("c")}
	a := newRig(t, fixedCapacity{n: 40}, targets...)
	minute := func(i int) time.Time { return a.evening.Add(time.Duration(i) * time.Minute) }
	a.d.RunOnce(ctx, minute(0)) // every target reads its history: all warm
	path := filepath.Join(t.TempDir(), "checkpoint")

	// Fewer than backfillAbove: every record's target is restored, then
	// reads the steps since in its first loop.
	const movingLoops = 30
	loopsDone := make(chan struct{})
	go func() {
		defer close(loopsDone)
		for i := 1; i <= movingLoops; i++ {
			a.d.RunOnce(ctx, minute(i))
			// The same settings again: each target keeps its forecaster,
			// but its settings and health are swapped for new copies,
			// which a record must not catch halfway.
			if err := a.d.Update(ctx, testConfig(targets...)); err != nil {
				t.Error(err)
			}
		}
	}()
	writes := 0
	for moving := true; moving; writes++ {
		select {
		case <-loopsDone:
			moving = false // one more write, after the last loop
		default:
		}
		if n, _, err := a.d.WriteCheckpoint(path, minute(movingLoops)); err != nil || n != len(targets) {
			t.Fatalf("write %d beside the loop: %d targets, %v", writes+1, n, err)
		}
	}
	t.Logf("%d checkpoints written while %d loops ran", writes, movingLoops)

	var names []string
	if _, _, err := readCheckpoint(path, func(rec targetCheckpoint) { names = append(names, rec.Name) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(names, want) {
		t.Fatalf("records %v, want one per target: %v", names, want)
	}

	b := newRig(t, fixedCapacity{n: 40}, targets...)
	if got := b.d.LoadCheckpoint(path, minute(movingLoops+1)); got[restoredOK] != len(targets) {
		t.Fatalf("LoadCheckpoint = %v, want every target restored", got)
	}
	for i := movingLoops + 1; i < movingLoops+30; i++ {
		oa, ob := a.d.RunOnce(ctx, minute(i)), b.d.RunOnce(ctx, minute(i))
		for j := range oa {
			da, db := oa[j].Decision, ob[j].Decision
			if da.Floor != db.Floor || da.Reason != db.Reason || da.PeakDemand != db.PeakDemand || oa[j].LeadForecast != ob[j].LeadForecast {
				t.Fatalf("minute %d, %s: floor %d (%s, peak %v), restored %d (%s, peak %v)", i, oa[j].Target,
					da.Floor, da.Reason, da.PeakDemand, db.Floor, db.Reason, db.PeakDemand)
			}
			if len(ob[j].Errs) > 0 {
				t.Fatalf("minute %d, %s: restored target's errors %v", i, ob[j].Target, ob[j].Errs)
			}
		}
	}
}

// gatedCapacity answers 40 replicas, except one call it is told to hold:
// that call waits until released, so its target's loop work (and the
// target's lock) stays in flight for as long as the test needs.
type gatedCapacity struct {
	mu      sync.Mutex
	hold    string        // the target whose next call is held ("": none)
	entered chan struct{} // closed once that call is held
	release chan struct{} // closed to let it answer
}

// holdNext holds the next call for target.
func (g *gatedCapacity) holdNext(target string) (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.entered, g.release = target, make(chan struct{}), make(chan struct{})
	return g.entered, g.release
}

func (g *gatedCapacity) CapacityReplicas(ctx context.Context, t *config.Target) (int32, error) {
	g.mu.Lock()
	held := g.hold != "" && t.Name == g.hold
	entered, release := g.entered, g.release
	if held {
		g.hold = ""
	}
	g.mu.Unlock()
	if held {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	return 40, nil
}

// shortWait is how long a test waits to see that something does not
// happen: long enough for a write of two small targets to end, were it
// free to.
const shortWait = 200 * time.Millisecond

// longWait bounds a wait for something that must happen, so a deadlock
// fails the test instead of hanging it.
const longWait = 10 * time.Second

// WriteCheckpoint waits for the targets being worked on, one at a time,
// and never for the loop: it ends while the loop's own lock is held, and
// while a loop is stuck on one target it waits for that target alone.
func TestCheckpointWaitsForTargetsNotForTheLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), longWait)
	defer cancel()
	capacity := &gatedCapacity{}
	r := newRig(t, capacity, testTarget("a"), testTarget("b"))
	r.d.RunOnce(context.Background(), r.evening) // both warm, however slow the machine
	path := filepath.Join(t.TempDir(), "checkpoint")
	write := func() chan error {
		done := make(chan error, 1)
		go func() {
			_, _, err := r.d.WriteCheckpoint(path, r.evening)
			done <- err
		}()
		return done
	}

	// The loop's lock held as a whole loop holds it: the write goes on.
	r.d.loop.Lock()
	select {
	case err := <-write():
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(longWait):
		t.Fatal("WriteCheckpoint waited for the loop's lock")
	}
	r.d.loop.Unlock()

	// A loop stuck on b (inside its capacity read) holds the loop's lock
	// and b's: the write waits for b, and ends as soon as b's work does.
	entered, release := capacity.holdNext("b")
	loopDone := make(chan []Outcome, 1)
	go func() { loopDone <- r.d.RunOnce(ctx, r.evening.Add(time.Minute)) }()
	<-entered
	written := write()
	select {
	case err := <-written:
		t.Fatalf("WriteCheckpoint ended (%v) while b was being worked on; its record would be half of a move", err)
	case <-time.After(shortWait):
	}
	close(release)
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(longWait):
		t.Fatal("WriteCheckpoint still waiting after b's work ended")
	}
	if outs := <-loopDone; outs[1].Target != "b" || len(outs[1].Errs) > 0 {
		t.Fatalf("the loop that held b: %+v", outs[1])
	}
	restored := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	if got := restored.d.LoadCheckpoint(path, r.evening.Add(2*time.Minute)); got[restoredOK] != 2 {
		t.Fatalf("LoadCheckpoint = %v, want both restored", got)
	}
}

// Run's writes beside the loop: one at a time (a write due while the last
// is still running is skipped, not queued), and the last one, at
// shutdown, begins only once the one in flight has ended.
func TestCheckpointWritesOneAtATime(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.checkpoints = NewCheckpointMetrics(r.reg)
	r.d.RunOnce(context.Background(), r.evening)
	cfg := config.Checkpoint{Path: filepath.Join(t.TempDir(), "checkpoint"), Interval: config.Duration(time.Minute)}
	r.d.mu.Lock()
	a := r.d.targets["a"]
	r.d.mu.Unlock()
	successes := func() float64 { return testutil.ToFloat64(r.d.checkpoints.writes.WithLabelValues("success")) }

	// Holding a's lock keeps the first write running.
	a.mu.Lock()
	var c checkpointer
	start := time.Now()
	r.d.checkpointBeside(cfg, &c, start)
	if !c.busy() {
		t.Fatal("no write running beside the loop")
	}
	r.d.checkpointBeside(cfg, &c, start.Add(time.Minute))
	if !c.last.Equal(start.Add(time.Minute)) {
		t.Errorf("last attempt %s after a skipped write, want the skipped one's time: the next is due an interval later", c.last)
	}
	final := make(chan struct{})
	go func() {
		defer close(final)
		r.d.checkpointNow(cfg, &c, start.Add(2*time.Minute))
	}()
	select {
	case <-final:
		t.Fatal("the final write ended while the write in flight could not")
	case <-time.After(shortWait):
	}
	a.mu.Unlock()
	select {
	case <-final:
	case <-time.After(longWait):
		t.Fatal("the final write never ended")
	}
	if c.busy() {
		t.Error("a write still running after the final one")
	}
	if got := successes(); got != 2 {
		t.Errorf("%v writes, want 2: the one in flight and the final one; the one due meanwhile skipped", got)
	}
}
