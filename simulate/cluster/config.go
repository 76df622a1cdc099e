package cluster

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults applied by New to zero-valued fields.
const (
	// DefaultTick is the simulation step: the HPA's default sync period.
	DefaultTick = 15 * time.Second
)

// Config describes the simulated Deployment and the GPUs it may use.
//
// Zero values mean a default for Tick (DefaultTick), MaxWait (one Tick) and
// GPUsPerNode (one node holding all GPUs), and a fixed pool of nodes for
// NodeDelay; every other field must be set.
type Config struct {
	// ReplicaCapacity is the demand one Ready replica serves per minute at its
	// latency target, in requests per minute. > 0.
	ReplicaCapacity float64
	// Startup is the time from scheduling (the pod gets its GPUs) to Ready:
	// image pull, container start, model load. >= 0.
	Startup time.Duration
	// StartupJitter spreads each pod's start-up uniformly over
	// [Startup − StartupJitter, Startup + StartupJitter]. 0 <= StartupJitter <= Startup.
	StartupJitter time.Duration
	// GPUs is the number of GPUs the Deployment can be scheduled on. >= 1.
	// With NodeDelay > 0 it is the pool's limit: the most GPUs its nodes
	// may hold (a Karpenter NodePool's limits on nvidia.com/gpu).
	GPUs int
	// GPUsPerReplica is the GPUs one pod requests; all on one node. >= 1.
	GPUsPerReplica int
	// GPUsPerNode splits GPUs into GPUs/GPUsPerNode identical nodes; it must
	// divide GPUs and hold at least GPUsPerReplica. 0: one node with all GPUs.
	GPUsPerNode int
	// NodeDelay, when > 0, makes the pool elastic, as a node autoscaler
	// (Karpenter, the cluster autoscaler) makes it: the run starts with the
	// nodes its pods need (at least MinNodes), a pod that fits on no Ready
	// node stays Pending and a node of GPUsPerNode GPUs is requested for it,
	// Ready NodeDelay later, and a node left empty for ConsolidateAfter is
	// removed. 0: a fixed pool of GPUs. >= 0.
	NodeDelay time.Duration
	// MinNodes are kept however empty (with NodeDelay > 0 only), as a
	// static node group under the autoscaled ones would be.
	// 0 <= MinNodes <= GPUs/GPUsPerNode.
	MinNodes int
	// ConsolidateAfter is how long a node must stay empty before it is
	// removed (with NodeDelay > 0 only): Karpenter's consolidateAfter under
	// consolidationPolicy WhenEmpty. 0: at once. >= 0.
	ConsolidateAfter time.Duration
	// Tick is the simulation step. It must divide one minute. 0: DefaultTick.
	Tick time.Duration
	// MaxWait is the queue wait above which a request is late. 0: one Tick.
	MaxWait time.Duration
	// ServiceTime is how long one request occupies a replica at its latency
	// target. It only enters the queue-depth metric, as the requests in
	// service (Little's law: throughput × ServiceTime). 0: count waiting
	// requests only. >= 0.
	ServiceTime time.Duration
	// Seed seeds the start-up jitter (PCG). The same Config and the same calls
	// give the same results, bit for bit.
	Seed uint64
}

// withDefaults returns the configuration with the zero-means-default fields
// filled in.
func (c Config) withDefaults() Config {
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.MaxWait == 0 {
		c.MaxWait = c.Tick
	}
	if c.GPUsPerNode == 0 {
		c.GPUsPerNode = c.GPUs
	}
	return c
}

// Validate checks the configuration after defaults are applied and returns
// every problem at once, joined with errors.Join; each names the field and
// its value. nil means New will accept it.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, fmt.Errorf("cluster config: %s = %v: %s", field, value, rule))
	}
	if !(c.ReplicaCapacity > 0) || math.IsInf(c.ReplicaCapacity, 0) {
		bad("ReplicaCapacity", c.ReplicaCapacity, "must be a finite number > 0")
	}
	if c.Startup < 0 {
		bad("Startup", c.Startup, "must be >= 0")
	}
	if c.StartupJitter < 0 || c.StartupJitter > max(c.Startup, 0) {
		bad("StartupJitter", c.StartupJitter, fmt.Sprintf("must be in [0, Startup=%v]", c.Startup))
	}
	if c.GPUs < 1 {
		bad("GPUs", c.GPUs, "must be >= 1")
	}
	if c.GPUsPerReplica < 1 {
		bad("GPUsPerReplica", c.GPUsPerReplica, "must be >= 1")
	}
	switch {
	case c.GPUsPerNode < 0:
		bad("GPUsPerNode", c.GPUsPerNode, "must be >= 0 (0: one node with all GPUs)")
	case c.GPUs >= 1 && c.GPUsPerNode > 0 && c.GPUs%c.GPUsPerNode != 0:
		bad("GPUsPerNode", c.GPUsPerNode, fmt.Sprintf("must divide GPUs=%d", c.GPUs))
	case c.GPUsPerReplica >= 1 && c.GPUsPerNode > 0 && c.GPUsPerReplica > c.GPUsPerNode:
		bad("GPUsPerReplica", c.GPUsPerReplica, fmt.Sprintf("must fit on one node of %d GPUs", c.GPUsPerNode))
	}
	c.validateNodes(bad)
	if c.Tick <= 0 || time.Minute%c.Tick != 0 {
		bad("Tick", c.Tick, "must be > 0 and divide one minute")
	}
	if c.MaxWait < 0 {
		bad("MaxWait", c.MaxWait, "must be >= 0 (0: one Tick)")
	}
	if c.ServiceTime < 0 {
		bad("ServiceTime", c.ServiceTime, "must be >= 0")
	}
	return errors.Join(errs...)
}

// validateNodes checks the elastic pool's fields: they mean nothing for a
// fixed pool, so setting them without NodeDelay is a mistake worth naming.
func (c Config) validateNodes(bad func(field string, value any, rule string)) {
	switch {
	case c.NodeDelay < 0:
		bad("NodeDelay", c.NodeDelay, "must be >= 0 (0: a fixed pool)")
	case c.NodeDelay == 0 && c.MinNodes != 0:
		bad("MinNodes", c.MinNodes, "needs NodeDelay > 0 (a fixed pool has all its nodes)")
	case c.NodeDelay == 0 && c.ConsolidateAfter != 0:
		bad("ConsolidateAfter", c.ConsolidateAfter, "needs NodeDelay > 0 (a fixed pool removes no node)")
	}
	if c.ConsolidateAfter < 0 {
		bad("ConsolidateAfter", c.ConsolidateAfter, "must be >= 0")
	}
	if c.GPUsPerNode > 0 && (c.MinNodes < 0 || c.MinNodes > c.GPUs/c.GPUsPerNode) {
		bad("MinNodes", c.MinNodes, fmt.Sprintf("must be in [0, GPUs/GPUsPerNode = %d]", c.GPUs/c.GPUsPerNode))
	}
}

// TicksPerMinute is the number of ticks in one minute of demand: a per-minute
// count is split evenly over them.
func (c Config) TicksPerMinute() int {
	c = c.withDefaults()
	if c.Tick <= 0 {
		return 0
	}
	return int(time.Minute / c.Tick)
}
