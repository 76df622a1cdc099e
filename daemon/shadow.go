package daemon

import (
	"math"
	"time"
)

// A shadow target writes nothing; its ledger tells what its floors would
// have changed, so a user can judge before switching to active. The
// counterfactual is the one a floor can really produce: pods asked for when
// a floor is decided serve one lead time later, so a demand step [s, e) is
// compared with the floor decided at or before s − lead, not the one decided
// while the step ran.
//
// For each newly completed demand step, with D its demand per minute, c
// the per-replica capacity, A the fewest replicas that could serve during
// the step (Ready, or the scale target's count when Ready is unknown) and
// F that earlier floor:
//
//   - overloaded: D > A·c, the running replicas could not serve the step;
//   - covered: overloaded and D ≤ max(A, F)·c, the floor would have served it;
//   - extra replica-minutes: (max(A, F) − A) × the step's minutes, what the
//     floor would have cost above what ran.
//
// Only the newest step of a loop is counted: in steady state a loop reads
// at most one new step, and the steps a loop reads after an outage have no
// replica count of their own.
type shadowLedger struct {
	// floors are the would-be floors, oldest first; replicas the replicas
	// that could serve, per loop.
	floors   []timedCount
	replicas []timedCount
}

type timedCount struct {
	at time.Time
	n  int32
}

// ShadowCounts is one loop's counterfactual for a shadow target, in
// minutes (see shadowLedger).
type ShadowCounts struct {
	OverloadedMinutes, CoveredMinutes, ExtraReplicaMinutes float64
}

// record adds this loop's would-be floor and serving replicas.
func (l *shadowLedger) record(now time.Time, floor, replicas int32) {
	l.floors = append(l.floors, timedCount{now, floor})
	l.replicas = append(l.replicas, timedCount{now, replicas})
}

// account counts the demand step [start, start+step) of demand perMinute
// against the floor decided at or before start − lead, then forgets what no
// later step can need. ok is false when the ledger cannot tell: no floor was
// decided early enough, no replica count fell in the step, or the demand or
// capacity is unknown.
func (l *shadowLedger) account(start time.Time, step, lead time.Duration, perMinute, capacity float64) (ShadowCounts, bool) {
	defer l.trim(start.Add(step), lead)
	if math.IsNaN(perMinute) || !(capacity > 0) {
		return ShadowCounts{}, false
	}
	floor, ok := latestAtOrBefore(l.floors, start.Add(-lead))
	if !ok {
		return ShadowCounts{}, false
	}
	ran, ok := fewestWithin(l.replicas, start, start.Add(step))
	if !ok {
		return ShadowCounts{}, false
	}
	would := max(ran, floor)
	minutes := step.Minutes()
	var c ShadowCounts
	if perMinute > float64(ran)*capacity {
		c.OverloadedMinutes = minutes
		if perMinute <= float64(would)*capacity {
			c.CoveredMinutes = minutes
		}
	}
	c.ExtraReplicaMinutes = float64(would-ran) * minutes
	return c, true
}

// trim drops the entries no step ending after end can use: replica counts
// before end, and floors older than the newest one at or before the next
// step's start − lead.
func (l *shadowLedger) trim(end time.Time, lead time.Duration) {
	keepFrom := 0
	for i, r := range l.replicas {
		if r.at.Before(end) {
			keepFrom = i + 1
		}
	}
	l.replicas = l.replicas[keepFrom:]
	cut := end.Add(-lead)
	keepFrom = 0
	for i, f := range l.floors {
		if !f.at.After(cut) {
			keepFrom = i // the newest at or before cut is still needed
		}
	}
	l.floors = l.floors[keepFrom:]
}

// latestAtOrBefore is the count of the newest entry at or before t.
func latestAtOrBefore(entries []timedCount, t time.Time) (int32, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if !entries[i].at.After(t) {
			return entries[i].n, true
		}
	}
	return 0, false
}

// fewestWithin is the smallest count of the entries in [from, to].
func fewestWithin(entries []timedCount, from, to time.Time) (int32, bool) {
	fewest, found := int32(math.MaxInt32), false
	for _, e := range entries {
		if e.at.Before(from) || e.at.After(to) {
			continue
		}
		fewest, found = min(fewest, e.n), true
	}
	return fewest, found
}

// countShadow records a shadow target's loop, with the floor it would
// have written, in its ledger, and counts the newest demand step read this
// loop if it had data (nil: nothing to count).
func (t *target) countShadow(now time.Time, g gathered, floor int32) *ShadowCounts {
	serving := g.state.CurrentReplicas
	if ready := g.serving.signals.ReadyReplicas; ready >= 0 {
		serving = ready
	}
	t.shadow.record(now, floor, serving)
	if g.fed.Steps == 0 || !t.lastValid.Equal(t.next) {
		return nil // no new step, or the newest one had no data
	}
	step := time.Duration(t.cfg.Forecast.Step)
	if c, ok := t.shadow.account(t.next.Add(-step), step, g.lead, float64(t.lastDemand), float64(g.replicaCapacity)); ok {
		return &c
	}
	return nil
}
