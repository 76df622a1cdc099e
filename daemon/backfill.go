package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/prescaler/prescaler/config"
)

// SkipWarming is Outcome.Skipped for a target whose history is still being
// read: it has no model yet, and its object is left as it is (nothing
// written, nothing given back) until the read is in.
const SkipWarming = "warming"

// A backfill brings a target up to date beside the loop: it reads a long
// stretch of its demand (the whole forecast.history of a target without a
// model, at start or added by a reload, or the steps missed since an old
// checkpoint) and feeds it to a copy of the target's forecaster, fits
// included. It has its own deadline instead of the loop's, so a read of
// twenty thousand steps that outlasts one interval goes on instead of being
// cut and started again next loop, and neither the read nor the fits hold
// up the targets that are warm: the loop only hands the copy over to the
// target once it is done.
type backfill struct {
	from, to time.Time
	// cfg is the target's config when the backfill began: a target whose
	// model a reload since would not keep (sameModel) reads again.
	cfg  config.Target
	done chan struct{}
	// warm is the copy brought up to date and fed what feeding it did
	// (fits, refused steps, errors); err the read's error. Set before done
	// is closed.
	warm *target
	fed  forecasterReport
	err  error
}

// backfillAbove is the gap, in steps, from which a target's missing steps
// are read by a backfill instead of in the loop: more than an hour of
// 1-minute steps is a target without a model or one restored from an old
// checkpoint, while a loop's own read is a step or two.
const backfillAbove = 60

// backfillTimeout bounds one backfill. A failed or timed-out backfill is
// started again by the next loop.
const backfillTimeout = 5 * time.Minute

// maxParallelBackfills bounds the backfills at work at once, beside the
// loop's own maxParallelTargets: a cold start of a thousand targets keeps
// Prometheus at a few long range queries, and the fits at a few cores'
// worth, at a time.
const maxParallelBackfills = 8

// pendingBackfill returns the target's backfill, starting one when the
// target needs one at now: it has no history yet, or more than backfillAbove
// steps are missing. It returns nil when the loop reads the target's steps
// itself. The backfill runs under ctx (the daemon's, not the loop's),
// waiting for one of slots first. Called by the loop, which alone moves the
// target.
func (t *target) pendingBackfill(ctx context.Context, src sources, now time.Time, slots chan struct{}) *backfill {
	step := time.Duration(t.cfg.Forecast.Step)
	to := now.Add(-src.lag).Truncate(step)
	if b := t.backfill; b != nil {
		if !b.finished() || to.Sub(b.to) <= backfillAbove*step {
			return b
		}
		// Done long ago and never handed over (its target was disabled or
		// opted out since): bring the target up to date again.
		t.backfill = nil
	}
	if !t.next.IsZero() && to.Sub(t.next) <= backfillAbove*step {
		return nil
	}
	warm, err := newTarget(t.cfg)
	if err != nil {
		return nil // never: t was built from the same config
	}
	if !t.next.IsZero() {
		// Continue from where the target is: a copy through its checkpoint
		// record. One older than the history starts over.
		rec, _ := t.checkpoint()
		if warm.restore(rec, now) != nil {
			warm, _ = newTarget(t.cfg)
		}
	}
	from := warm.next
	if from.IsZero() {
		from = to.Add(-time.Duration(t.cfg.Forecast.History))
		warm.next = from
	}
	b := &backfill{from: from, to: to, cfg: t.cfg, done: make(chan struct{})}
	t.backfill = b
	go func() {
		defer close(b.done)
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done():
			b.err = ctx.Err()
			return
		}
		rctx, cancel := context.WithTimeout(ctx, backfillTimeout)
		defer cancel()
		b.warmUp(rctx, warm, src, now)
	}()
	return b
}

// warmUp reads the backfill's steps and feeds them to warm, sized first
// for the lead time as a reconcile sizes its target before feeding it.
func (b *backfill) warmUp(ctx context.Context, warm *target, src sources, now time.Time) {
	lead, measured, err := warm.leadTime(ctx, src.startup)
	b.fed.Errs = appendErr(b.fed.Errs, err)
	b.fed.add(warm.sizeForLead(lead, measured))
	values, err := src.demand.Steps(ctx, &warm.cfg, b.from, b.to)
	if err != nil {
		b.err = err
		return
	}
	b.fed.add(warm.observeSteps(values, now))
	b.warm = warm
}

// finished reports whether the backfill is done.
func (b *backfill) finished() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// takeBackfill hands over the target's finished backfill (nil when there
// is none, or it is still at work) and forgets it: a failed one is started
// again by the next loop.
func (t *target) takeBackfill() *backfill {
	b := t.backfill
	if b == nil || !b.finished() {
		return nil
	}
	t.backfill = nil
	return b
}

// awaitBackfill waits for b until the loop's ctx ends, then reconciles the
// target in one of the loop's slots; a target whose backfill is still at
// work when the loop's deadline comes is reported warming, and its
// backfill goes on.
func (t *target) awaitBackfill(ctx context.Context, b *backfill, limit chan struct{}, src sources, now time.Time) Outcome {
	select {
	case <-b.done:
	case <-ctx.Done():
		return t.warming(src.standby)
	}
	limit <- struct{}{}
	defer func() { <-limit }()
	if ctx.Err() != nil {
		return t.warming(src.standby) // handed over next loop
	}
	return t.reconcile(ctx, src, now)
}

// warming is the outcome of a target whose backfill is still at work.
func (t *target) warming(standby bool) Outcome {
	return Outcome{Target: t.cfg.Name, Object: t.cfg.Object(), Capacity: -1, Step: time.Duration(t.cfg.Forecast.Step),
		Skipped: SkipWarming, Standby: standby, Demand: t.lastDemand}
}

// handOver takes over the target's finished backfill, if any. It returns
// what feeding it did (a failed one's error included), and the part of that
// fit time spent beside the loop.
func (t *target) handOver() (fed forecasterReport, besideLoop time.Duration) {
	b := t.takeBackfill()
	if b == nil {
		return fed, 0
	}
	fed, err := t.adopt(b)
	if err != nil {
		fed.Errs = append(fed.Errs, fmt.Errorf("demand: %w", err))
	}
	return fed, fed.FitTime
}

// adopt takes over what a finished backfill brought up to date: the
// forecaster, the steps read, the forecast scorer and the lead it is sized
// for. It returns what feeding it did, Steps the steps fed, or why nothing
// was taken (the next loop begins another backfill).
func (t *target) adopt(b *backfill) (forecasterReport, error) {
	if b.err != nil {
		return forecasterReport{}, fmt.Errorf("demand history from %s: %w", b.from.UTC().Format(time.RFC3339), b.err)
	}
	if !sameModel(b.cfg, t.cfg) {
		return forecasterReport{}, fmt.Errorf("demand history from %s: the target was reconfigured while it was read; reading it again", b.from.UTC().Format(time.RFC3339))
	}
	w := b.warm
	t.plan, t.next, t.lastValid, t.lastDemand = w.plan, w.next, w.lastValid, w.lastDemand
	t.health.errors, t.health.sizing = w.health.errors, w.health.sizing
	t.refused = w.refused
	fed := b.fed
	fed.Steps = int(w.next.Sub(b.from) / time.Duration(t.cfg.Forecast.Step))
	return fed, nil
}
