package cluster

import (
	"fmt"
	"slices"
	"time"
)

// node is one node of the pool. Times are offsets from the start of the run.
type node struct {
	cap, used int // GPUs
	// launched is when the node was requested: a cloud bills an instance
	// from its launch, while it boots and joins, not from Ready.
	launched time.Duration
	// readyAt is when pods can be bound to it; ready once that has passed.
	readyAt time.Duration
	// emptySince is when its last pod left (or it became Ready with none);
	// meaningful while ready and used == 0.
	emptySince time.Duration
	ready      bool
	// live is false once an elastic pool removed it; its slot is reused.
	live bool
}

// nodeSpan is the paid life of a node removed during the current tick.
type nodeSpan struct{ launched, removed time.Duration }

// elastic reports whether nodes come and go with the Pending pods.
func (c *Cluster) elastic() bool { return c.cfg.NodeDelay > 0 }

// maxNodes is how many nodes the GPUs hold: the fixed pool, or the elastic
// pool's limit.
func (c *Cluster) maxNodes() int { return c.cfg.GPUs / c.cfg.GPUsPerNode }

// perNode is how many pods one node holds: ⌊GPUsPerNode / GPUsPerReplica⌋.
func (c *Cluster) perNode() int { return c.cfg.GPUsPerNode / c.cfg.GPUsPerReplica }

// bind puts p on node i at off.
func (c *Cluster) bind(p *pod, i int, off time.Duration) {
	c.nodes[i].used += c.cfg.GPUsPerReplica
	p.node, p.scheduled = i, off
}

// release frees a pod's GPUs on node i at off; an emptied node starts its
// wait for consolidation.
func (c *Cluster) release(i int, off time.Duration) {
	n := &c.nodes[i]
	n.used -= c.cfg.GPUsPerReplica
	if n.used == 0 {
		n.emptySince = off
	}
}

// settle brings an elastic pool up to off: nodes become Ready (and take the
// Pending pods at that instant) and empty nodes are removed, in the order
// these happen. Each event changes the state that raised it (a node is
// Ready, or gone), so the loop ends.
func (c *Cluster) settle(off time.Duration) {
	if !c.elastic() {
		return
	}
	for {
		i, at, joins := c.nextNodeEvent()
		if i < 0 || at > off {
			return
		}
		if joins {
			c.nodes[i].ready = true
			c.nodes[i].emptySince = at
			c.schedule(at)
			continue
		}
		c.removeNode(i, at)
	}
}

// nextNodeEvent is the earliest node event of an elastic pool: a launching
// node becoming Ready (joins), or an empty node's consolidation, due
// ConsolidateAfter after it emptied while the pool holds more than
// MinNodes. Ties go to joins, then to the lowest index; i is -1 for none.
func (c *Cluster) nextNodeEvent() (i int, at time.Duration, joins bool) {
	i, at = -1, farFuture
	live := 0
	for _, n := range c.nodes {
		if n.live {
			live++
		}
	}
	for k, n := range c.nodes {
		switch {
		case !n.live:
		case !n.ready && (n.readyAt < at || n.readyAt == at && !joins):
			i, at, joins = k, n.readyAt, true
		case n.ready && n.used == 0 && live > c.cfg.MinNodes && n.emptySince+c.cfg.ConsolidateAfter < at:
			i, at, joins = k, n.emptySince+c.cfg.ConsolidateAfter, false
		}
	}
	return i, at, joins
}

// removeNode deletes an empty node at off; its paid time is accounted at
// the end of the tick.
func (c *Cluster) removeNode(i int, off time.Duration) {
	c.goneNodes = append(c.goneNodes, nodeSpan{launched: c.nodes[i].launched, removed: off})
	c.nodes[i] = node{}
}

// provision requests, at off, nodes for the Pending pods that the nodes
// already launching will not hold, within the pool's limit: Karpenter
// provisions for Pending pods, counting the room of the nodes in flight
// first, and packs a batch of them into as few nodes as hold it. Karpenter
// waits for a batch to settle (1 s idle, 10 s at most) before it asks; the
// model asks at once and, asking again later, counts the room of the nodes
// it asked for, so the packing is a batch's and only those seconds differ.
func (c *Cluster) provision(off time.Duration) {
	if !c.elastic() {
		return
	}
	pending := 0
	for _, p := range c.pods {
		if !p.isScheduled() {
			pending++
		}
	}
	for _, h := range c.holders {
		if !h.isScheduled() {
			pending++
		}
	}
	live, launching := 0, 0
	for _, n := range c.nodes {
		if n.live {
			live++
			if !n.ready {
				launching++
			}
		}
	}
	per := c.perNode()
	short := pending - launching*per
	want := min((short+per-1)/per, c.maxNodes()-live)
	for range want {
		c.launch(off)
	}
}

// launch requests a node at off, Ready NodeDelay later, in the first free
// slot.
func (c *Cluster) launch(off time.Duration) {
	n := node{cap: c.cfg.GPUsPerNode, launched: off, readyAt: off + c.cfg.NodeDelay, live: true}
	c.totals.NodesLaunched++
	if i := slices.IndexFunc(c.nodes, func(slot node) bool { return !slot.live }); i >= 0 {
		c.nodes[i] = n
		return
	}
	c.nodes = append(c.nodes, n)
}

// nodeTime is the GPU time of the elastic pool's nodes in [from, to), each
// from its launch to its removal; 0 for a fixed pool. It forgets the nodes
// removed before to.
func (c *Cluster) nodeTime(from, to time.Duration) time.Duration {
	if !c.elastic() {
		return 0
	}
	var t time.Duration
	for _, n := range c.nodes {
		if n.live {
			t += overlap(n.launched, farFuture, from, to)
		}
	}
	for _, n := range c.goneNodes {
		t += overlap(n.launched, n.removed, from, to)
	}
	c.goneNodes = c.goneNodes[:0]
	return t * time.Duration(c.cfg.GPUsPerNode)
}

// SetPlaceholders keeps n placeholder pods from now, which must lie in the
// next tick as for SetReplicas. A placeholder requests the GPUs of one of
// the Deployment's pods at the lowest priority (a pause container, as the
// cluster autoscaler's overprovisioning pattern runs): it calls for a node
// like any Pending pod, holds its GPUs, never serves, and is preempted at
// once, freeing them, when a pod of the Deployment finds no room; its
// ReplicaSet then creates a Pending replacement. Surplus placeholders are
// deleted in the ReplicaSet controller's order (Pending first). They bring
// nodes up, so a fixed pool refuses them.
func (c *Cluster) SetPlaceholders(now time.Time, n int32) error {
	switch {
	case !c.elastic():
		return fmt.Errorf("cluster: SetPlaceholders: the pool is fixed (NodeDelay = 0): placeholders bring no node up")
	case n < 0:
		return fmt.Errorf("cluster: SetPlaceholders n = %d: must be >= 0", n)
	}
	off, err := c.at("SetPlaceholders", now)
	if err != nil {
		return err
	}
	c.settle(off)
	c.clock = off
	switch live := len(c.holders); {
	case int(n) > live:
		for range int(n) - live {
			c.createHolder(off)
		}
	case int(n) < live:
		order := slices.Clone(c.holders)
		deletionOrder(order, off)
		for _, p := range order[:live-int(n)] {
			c.remove(p, off)
		}
		c.compactHolders()
	}
	c.schedule(off)
	return nil
}

// createHolder adds a Pending placeholder created at off.
func (c *Cluster) createHolder(off time.Duration) {
	c.nextHolder++
	c.holders = append(c.holders, &pod{id: c.nextHolder, created: off, node: -1, holder: true})
}

func (c *Cluster) compactHolders() {
	c.holders = slices.DeleteFunc(c.holders, func(p *pod) bool { return p.deleted })
}

// preempt makes room at off for a pod of the Deployment that fits nowhere:
// it deletes the placeholder scheduled last (the scheduler prefers victims
// that started latest; the highest id on ties), whose ReplicaSet creates a
// Pending replacement, and returns the node it freed, or -1 when no
// placeholder is scheduled.
func (c *Cluster) preempt(off time.Duration) int {
	var victim *pod
	for _, h := range c.holders {
		if h.isScheduled() && (victim == nil || h.scheduled > victim.scheduled || h.scheduled == victim.scheduled && h.id > victim.id) {
			victim = h
		}
	}
	if victim == nil {
		return -1
	}
	c.remove(victim, off)
	c.compactHolders()
	c.createHolder(off)
	c.totals.Preemptions++
	return victim.node
}

// Pool is the node pool and the placeholders at the last event.
func (c *Cluster) Pool() Pool {
	var p Pool
	for _, n := range c.nodes {
		switch {
		case !n.live:
		case n.ready:
			p.ReadyNodes++
		default:
			p.LaunchingNodes++
		}
	}
	p.Placeholders = len(c.holders)
	for _, h := range c.holders {
		if !h.isScheduled() {
			p.PendingPlaceholders++
		}
	}
	return p
}
