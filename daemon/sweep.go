package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/prescaler/prescaler/config"
)

// Sweeper finds every object prescaler has written to, whichever config
// wrote it, and gives one back by reference. The leader uses it to restore
// objects that no active target writes to any more: a target removed or
// re-pointed while prescaler was down, or switched to shadow mode.
type Sweeper interface {
	// Managed lists the objects in scope that carry prescaler's annotations.
	Managed(ctx context.Context) ([]config.ObjectRef, error)
	// Release restores an object's user's values and removes prescaler's
	// annotations (recording an Event on it); an object gone is no error.
	Release(ctx context.Context, ref config.ObjectRef) error
}

// Released is one object the sweep gave back, and why.
type Released struct {
	Object config.ObjectRef
	// Why says why no active target writes to it: not_configured or shadow.
	Why string
}

// Sweep reasons.
const (
	// whyNotConfigured: no configured target writes to the object.
	whyNotConfigured = "not_configured"
	// whyShadow: the object's target is in shadow mode.
	whyShadow = "shadow"
)

// sweep restores every object carrying prescaler's annotations that no
// active target writes to. It runs at the start of the leader's first loop
// and of the first loop after each config change; a failed sweep is tried
// again on the next loop. Objects of active targets are never touched, even
// when listed, so a sweep cannot race a target's own write.
func (d *Daemon) sweep(ctx context.Context) {
	d.mu.Lock()
	due, sw := d.sweepDue, d.sweeper
	active, shadow := d.activeObjects()
	keep := d.placeholderTargets()
	d.mu.Unlock()
	if !due {
		return
	}
	if err := d.sweepPlaceholders(ctx, keep); err != nil {
		d.log.Error("removing placeholders no target keeps failed; the sweep runs again next loop", "err", err)
		return
	}
	if sw == nil {
		d.mu.Lock()
		d.sweepDue = false
		d.mu.Unlock()
		return
	}
	managed, err := sw.Managed(ctx)
	if err != nil {
		d.log.Error("listing the objects prescaler manages failed; the sweep runs again next loop", "err", err)
		return
	}
	var errs []error
	for _, r := range orphans(managed, active, shadow) {
		if err := sw.Release(ctx, r.Object); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Object, err))
			continue
		}
		d.log.Info("gave the object its user's values back", objectAttrs(r.Object, "why", r.Why)...)
		d.metrics.released.WithLabelValues(r.Why).Inc()
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Error("giving objects back failed; the sweep runs again next loop", "err", err)
		return
	}
	d.mu.Lock()
	d.sweepDue = false
	d.mu.Unlock()
}

// activeObjects returns the objects active targets write to, and those of
// shadow targets. Callers hold d.mu.
func (d *Daemon) activeObjects() (active, shadow map[config.ObjectRef]bool) {
	active, shadow = map[config.ObjectRef]bool{}, map[config.ObjectRef]bool{}
	for _, t := range d.targets {
		if t.cfg.Mode == config.ModeShadow {
			shadow[t.cfg.Object()] = true
		} else {
			active[t.cfg.Object()] = true
		}
	}
	return active, shadow
}

// orphans are the managed objects no active target writes to, in a stable
// order.
func orphans(managed []config.ObjectRef, active, shadow map[config.ObjectRef]bool) []Released {
	var out []Released
	for _, ref := range managed {
		switch {
		case active[ref]:
		case shadow[ref]:
			out = append(out, Released{Object: ref, Why: whyShadow})
		default:
			out = append(out, Released{Object: ref, Why: whyNotConfigured})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object.String() < out[j].Object.String() })
	return out
}
