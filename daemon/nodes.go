package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prescaler/prescaler/config"
)

// NodeSource says what a node autoscaler may still add for a target's pods
// and how long a new node takes. nil in Options: every target is on a
// fixed pool of nodes.
type NodeSource interface {
	Outlook(ctx context.Context, t *config.Target) (NodeOutlook, error)
}

// NodeOutlook is what a NodeSource read for one target.
type NodeOutlook struct {
	// Provisioner is the one in force: the target's, with auto resolved.
	// ProvisionerNone is a fixed pool; the other fields are then unset.
	Provisioner config.Provisioner
	// Replicas is how many more replicas the pools the pod template fits
	// may add nodes for; Unbounded when no limit of theirs bounds it.
	Replicas  int32
	Unbounded bool
	// Lead is the node provisioning p90 measured now; Measured is false
	// when too few nodes were seen (Lead is then unset).
	Lead     time.Duration
	Measured bool
	// GPUsPerReplica is the GPUs one replica requests: what a placeholder
	// pod holds.
	GPUsPerReplica int64
}

// NodeState is what the decision knew about the target's nodes.
type NodeState struct {
	// Provisioner in force; ProvisionerNone (or "") for a fixed pool.
	Provisioner config.Provisioner
	// Provisionable is the replicas beyond what the nodes hold now that
	// the decision allowed (the pools' limits, or maxReplicas for a pool
	// without one).
	Provisionable int32
	// Lead is the node lead time the decision used, Measured whether it was
	// measured (else configured, the default, or the last measurement).
	Lead     time.Duration
	Measured bool
	// GPUsPerReplica prices a placeholder (0: unknown).
	GPUsPerReplica int64
}

// provisioning reports whether new nodes can be asked for.
func (n NodeState) provisioning() bool {
	return n.Provisioner != "" && n.Provisioner != config.ProvisionerNone
}

// nodes reads what the target's node autoscaler may still add. Anything
// unknown falls back to a fixed pool: clamped to the nodes that exist, the
// floor never asks for a node the pools may not give.
func (t *target) nodes(ctx context.Context, src NodeSource, maxReplicas, capacity int32) (NodeState, error) {
	fixed := NodeState{Provisioner: config.ProvisionerNone}
	if src == nil || t.cfg.Nodes.Provisioner == config.ProvisionerNone || capacity < 0 {
		return fixed, nil
	}
	o, err := src.Outlook(ctx, &t.cfg)
	if err != nil {
		return fixed, fmt.Errorf("nodes: %w; treated as a fixed pool", err)
	}
	if o.Provisioner == config.ProvisionerNone || o.Provisioner == "" {
		return fixed, nil
	}
	st := NodeState{Provisioner: o.Provisioner, Provisionable: max(o.Replicas, 0), GPUsPerReplica: o.GPUsPerReplica}
	if o.Unbounded {
		st.Provisionable = max(maxReplicas-capacity, 0)
	}
	st.Lead, st.Measured = t.nodeLead(o)
	return st, nil
}

// nodeLead is the configured node lead time, or the p90 measured now; the
// last measurement holds while too few nodes start to measure again.
func (t *target) nodeLead(o NodeOutlook) (time.Duration, bool) {
	if !t.cfg.Nodes.LeadTime.Auto {
		return t.cfg.Nodes.LeadTime.Duration, false
	}
	if o.Measured && o.Lead > 0 {
		t.lastNodeLead = o.Lead
		return o.Lead, true
	}
	if t.lastNodeLead > 0 {
		return t.lastNodeLead, false
	}
	return config.DefaultNodeLeadTime, false
}

// PlaceholderRef names the placeholders of one target.
type PlaceholderRef struct {
	Namespace, Target string
}

// PlaceholderSink keeps a target's placeholder pods (nodes.placeholders).
// nil in Options: no target may enable them.
type PlaceholderSink interface {
	// Keep makes n placeholder pods of the target exist (0: none).
	Keep(ctx context.Context, t *config.Target, n int32) error
	// Owned lists the targets whose placeholders exist, in scope.
	Owned(ctx context.Context) ([]PlaceholderRef, error)
	// Remove deletes a target's placeholders; none is no error.
	Remove(ctx context.Context, ref PlaceholderRef) error
}

// placeholderReport is what keeping a target's placeholders did: the
// placeholder pods kept after it, and the GPU-seconds those kept since the
// last loop asked for.
type placeholderReport struct {
	kept       int32
	gpuSeconds float64
}

// keepPlaceholders makes n placeholders true on the cluster, writing only
// when the count changed (or the last write failed). It prices the
// placeholders kept since the last loop at the GPUs one replica requests
// (gpusPerReplica, when known; else the last known).
func (t *target) keepPlaceholders(ctx context.Context, sink PlaceholderSink, n int32, now time.Time, gpusPerReplica int64) (placeholderReport, error) {
	var r placeholderReport
	if sink == nil || !t.cfg.Nodes.Placeholders.Enabled {
		return r, nil
	}
	if !t.placeholdersSince.IsZero() && now.After(t.placeholdersSince) {
		r.gpuSeconds = float64(t.placeholders) * float64(t.placeholderGPUs) * now.Sub(t.placeholdersSince).Seconds()
	}
	t.placeholdersSince = now
	if gpusPerReplica > 0 {
		t.placeholderGPUs = gpusPerReplica
	}
	r.kept = t.placeholders
	if t.placeholdersKept && t.placeholders == n {
		return r, nil
	}
	if err := sink.Keep(ctx, &t.cfg, n); err != nil {
		t.placeholdersKept = false
		return r, fmt.Errorf("placeholders: %w", err)
	}
	t.placeholders, t.placeholdersKept = n, true
	r.kept = n
	return r, nil
}

// checkPlaceholders refuses a config that enables placeholders when the
// daemon has nothing to keep them with.
func (d *Daemon) checkPlaceholders(cfg *config.Config) error {
	if d.placeholders != nil {
		return nil
	}
	var errs []error
	for i, t := range cfg.Targets {
		if t.Nodes.Placeholders.Enabled {
			errs = append(errs, fmt.Errorf("targets[%d].nodes.placeholders.enabled: target %s: this daemon keeps no placeholder pods", i, t.Name))
		}
	}
	return errors.Join(errs...)
}

// placeholderTargets are the active targets that keep placeholders.
// Callers hold d.mu.
func (d *Daemon) placeholderTargets() map[PlaceholderRef]bool {
	keep := map[PlaceholderRef]bool{}
	for _, t := range d.targets {
		if t.cfg.Mode != config.ModeShadow && t.cfg.Nodes.Placeholders.Enabled {
			keep[PlaceholderRef{Namespace: t.cfg.Namespace, Target: t.cfg.Name}] = true
		}
	}
	return keep
}

// sweepPlaceholders removes the placeholders no active target keeps: its
// target left the config, went to shadow mode or turned them off. It
// runs with the object sweep (see sweep).
func (d *Daemon) sweepPlaceholders(ctx context.Context, keep map[PlaceholderRef]bool) error {
	if d.placeholders == nil {
		return nil
	}
	owned, err := d.placeholders.Owned(ctx)
	if err != nil {
		return fmt.Errorf("listing placeholders: %w", err)
	}
	sort.Slice(owned, func(i, j int) bool {
		return owned[i].Namespace+"/"+owned[i].Target < owned[j].Namespace+"/"+owned[j].Target
	})
	var errs []error
	for _, ref := range owned {
		if keep[ref] {
			continue
		}
		if err := d.placeholders.Remove(ctx, ref); err != nil {
			errs = append(errs, fmt.Errorf("placeholders of %s/%s: %w", ref.Namespace, ref.Target, err))
			continue
		}
		d.log.Info("removed the placeholders of a target that no longer keeps them", "namespace", ref.Namespace, "target", ref.Target)
		d.metrics.placeholdersRemoved.Inc()
	}
	return errors.Join(errs...)
}
