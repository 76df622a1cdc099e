package cluster

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Interval is what happened to the Deployment during one tick or one minute.
// Flows (demand, served, late, GPU time) are totals over the interval; pod
// counts and the backlog are taken at its end.
type Interval struct {
	Start  time.Time
	Length time.Duration
	// Demand is the requests that arrived.
	Demand float64
	// Capacity is the requests the Ready pods could serve: ReplicaCapacity ×
	// Ready pod-minutes (a pod Ready for part of the interval counts for that part).
	Capacity float64
	// Served is the requests served, queued ones first.
	Served float64
	// Backlog is the requests waiting at the end.
	Backlog float64
	// Late is the requests whose queue wait passed MaxWait during the interval.
	Late float64
	// GPUHours is the GPU time held by scheduled pods.
	GPUHours float64
	// PlaceholderGPUHours is the GPU time held by scheduled placeholder pods.
	PlaceholderGPUHours float64
	// NodeGPUHours is, with NodeDelay > 0, the GPU time of the nodes, from
	// their request to their removal: what a user of an elastic pool pays
	// for, the pods', the placeholders' and the idle GPUs'; 0 for a fixed
	// pool, paid whatever runs on it.
	NodeGPUHours float64
	// PendingPodMinutes is the time pods spent unscheduled.
	PendingPodMinutes float64
	// Replicas is spec.replicas at the end.
	Replicas int32
	// Pods counts the pods at the end.
	Pods PodCounts
}

// Overloaded reports whether demand exceeded Ready capacity.
func (i Interval) Overloaded() bool { return i.Demand > i.Capacity }

// PodCounts counts the Deployment's pods by phase, and the GPUs they hold.
type PodCounts struct {
	Ready, Starting, Pending int
	// Total is Ready + Starting + Pending; it equals spec.replicas.
	Total int
	// GPUs held by scheduled (Starting and Ready) pods.
	GPUs int
}

// Pool is the node pool at the last event: the end of the last tick, or the
// last call after it.
type Pool struct {
	// ReadyNodes can hold pods; LaunchingNodes were requested and are not
	// Ready yet (always 0 for a fixed pool).
	ReadyNodes, LaunchingNodes int
	// Placeholders counts the placeholder pods, PendingPlaceholders those
	// of them not scheduled.
	Placeholders, PendingPlaceholders int
}

// TickResult is the outcome of one Advance.
type TickResult struct {
	Tick Interval
	// Minute is set on the last tick of each minute (minutes counted from the
	// start of the run) and nil otherwise.
	Minute *Interval
}

// PodView is one pod as an HPA metrics pipeline sees it at the end of the
// last tick (or at the last SetReplicas/SetGPUs after it).
type PodView struct {
	// ID numbers pods in creation order, from 1.
	ID    int
	Phase Phase
	// Node is the node index, -1 while Pending.
	Node int
	// Created is the pod's creationTimestamp.
	Created time.Time
	// Scheduled is when it got its GPUs (≈ status.startTime); zero while Pending.
	Scheduled time.Time
	// ReadySince is the Ready condition's lastTransitionTime; zero unless Ready.
	ReadySince time.Time
	// GPUs held: GPUsPerReplica once scheduled, else 0.
	GPUs int
	// HasSample is true for pods that were Ready at the end of the last tick;
	// the metric fields are meaningful only then (unready pods report none).
	HasSample bool
	// QueueDepth is ai_request_queue_depth: requests waiting or in service,
	// shared equally by the Ready pods.
	QueueDepth float64
	// Utilization is the CPU-like signal: (served + waiting) requests over the
	// pod's capacity in the tick; above 1 when overloaded.
	Utilization float64
}

// Ready reports whether the pod is Ready.
func (p PodView) Ready() bool { return p.Phase == PhaseReady }

// Summary describes a whole run so far.
type Summary struct {
	// Duration is the simulated time: ticks × Tick.
	Duration time.Duration
	// Minutes is the number of complete minutes.
	Minutes int
	Demand  float64
	Served  float64
	// Backlog is the requests still waiting.
	Backlog float64
	Late    float64
	// LatePercent is 100 × Late / Demand (0 without demand).
	LatePercent float64
	// OverloadedMinutes counts complete minutes whose demand exceeded Ready capacity.
	OverloadedMinutes int
	// P99Wait is the 99th percentile of queue waits (see WaitQuantile).
	P99Wait  time.Duration
	GPUHours float64
	// PlaceholderGPUHours and NodeGPUHours are as in Interval.
	PlaceholderGPUHours, NodeGPUHours float64
	PendingPodMinutes                 float64
	// ScaleEvents counts changes of spec.replicas.
	ScaleEvents int
	// Evictions counts pods deleted because SetGPUs took their GPUs away.
	Evictions int
	// NodesLaunched counts the nodes requested (NodeDelay > 0), Preemptions
	// the placeholder pods preempted by the Deployment's pods.
	NodesLaunched, Preemptions int
}

// Cluster simulates one GPU Deployment and the shared request queue in front
// of it. It is not safe for concurrent use.
type Cluster struct {
	cfg        Config
	singleNode bool
	start      time.Time
	rng        *rand.Rand

	now   time.Duration // start of the next tick, from start
	clock time.Duration // latest instant the state describes (>= now after the first event)
	ticks int

	spec   int32
	nextID int
	pods   []*pod // live, in creation order
	gone   []*pod // deleted during the current tick, still to be accounted
	nodes  []node
	// goneNodes are the nodes removed during the current tick, still to be
	// accounted.
	goneNodes []nodeSpan
	// holders are the live placeholder pods, in creation order; nextHolder
	// numbers them apart from the Deployment's pods.
	holders    []*pod
	nextHolder int

	queue fifo
	waits waitHistogram
	// The last tick's metric sample, shared by the pods Ready at its end.
	depth, util float64

	minute          Interval
	minuteReadyTime time.Duration

	totals Summary
}

// New starts a simulation at start with initialReplicas pods already
// scheduled and Ready. They must fit on the GPUs.
func New(cfg Config, start time.Time, initialReplicas int32) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if initialReplicas < 0 {
		return nil, fmt.Errorf("cluster: initialReplicas = %d: must be >= 0", initialReplicas)
	}
	c := &Cluster{
		cfg:        cfg.withDefaults(),
		singleNode: cfg.GPUsPerNode == 0,
		start:      start,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x5ca1e)),
	}
	nodes := c.maxNodes()
	if c.elastic() {
		// Just the nodes the initial pods need, and the minimum.
		nodes = min(nodes, max(c.cfg.MinNodes, (int(initialReplicas)+c.perNode()-1)/c.perNode()))
	}
	c.nodes = slices.Repeat([]node{{cap: c.cfg.GPUsPerNode, ready: true, live: true}}, nodes)
	c.spec = initialReplicas
	for range initialReplicas {
		c.create(0)
	}
	c.schedule(0)
	for _, p := range c.pods {
		if !p.isScheduled() {
			perNode := c.cfg.GPUsPerNode / c.cfg.GPUsPerReplica
			return nil, fmt.Errorf("cluster: initialReplicas = %d: only %d pods of %d GPUs fit on %d nodes of %d GPUs",
				initialReplicas, perNode*nodes, c.cfg.GPUsPerReplica, nodes, c.cfg.GPUsPerNode)
		}
		p.readyAt = 0 // Ready from the start, no start-up
		p.sampled = true
	}
	c.minute = Interval{Start: start, Length: time.Minute}
	return c, nil
}

// Now is the start of the next tick.
func (c *Cluster) Now() time.Time { return c.start.Add(c.now) }

// Replicas is spec.replicas.
func (c *Cluster) Replicas() int32 { return c.spec }

// at converts a caller's instant into an offset, checking that it lies in
// the next tick and not before an earlier event of that tick.
func (c *Cluster) at(op string, now time.Time) (time.Duration, error) {
	off := now.Sub(c.start)
	if off < c.clock || off >= c.now+c.cfg.Tick {
		return 0, fmt.Errorf("cluster: %s at %s: must be in [%s, %s), the rest of the next tick",
			op, now.Format(time.RFC3339Nano), c.start.Add(c.clock).Format(time.RFC3339Nano),
			c.start.Add(c.now+c.cfg.Tick).Format(time.RFC3339Nano))
	}
	return off, nil
}

// SetReplicas sets spec.replicas at now, which must lie in the next tick
// ([Now(), Now()+Tick)) and not before an earlier call in that tick. New pods
// are created at once and scheduled if GPUs are free; surplus pods are deleted
// in ReplicaSet order and free their GPUs at once.
func (c *Cluster) SetReplicas(now time.Time, n int32) error {
	if n < 0 {
		return fmt.Errorf("cluster: SetReplicas n = %d: must be >= 0", n)
	}
	off, err := c.at("SetReplicas", now)
	if err != nil {
		return err
	}
	c.settle(off)
	c.clock = off
	if n == c.spec {
		return nil
	}
	c.totals.ScaleEvents++
	c.spec = n
	switch live := len(c.pods); {
	case int(n) > live:
		for range int(n) - live {
			c.create(off)
		}
	case int(n) < live:
		order := slices.Clone(c.pods)
		deletionOrder(order, off)
		for _, p := range order[:live-int(n)] {
			c.remove(p, off)
		}
		c.compactPods()
	}
	c.schedule(off)
	return nil
}

// SetGPUs changes the GPUs available to the Deployment from now (a node pool
// growing or shrinking, another workload taking or returning GPUs); now must
// lie in the next tick as for SetReplicas. With GPUsPerNode set, gpus must be
// a multiple of it and nodes are added or removed at the end; otherwise the
// single node is resized. Pods that no longer fit on their node are evicted,
// most recently scheduled first, and the ReplicaSet replaces each with a new
// Pending pod. Pending pods are then scheduled FIFO on what is free. An
// elastic pool (NodeDelay > 0) sizes itself: SetGPUs refuses it.
func (c *Cluster) SetGPUs(now time.Time, gpus int) error {
	switch {
	case c.elastic():
		return fmt.Errorf("cluster: SetGPUs: the pool is elastic (NodeDelay = %v): its nodes follow the Pending pods", c.cfg.NodeDelay)
	case gpus < 0:
		return fmt.Errorf("cluster: SetGPUs gpus = %d: must be >= 0", gpus)
	case !c.singleNode && gpus%c.cfg.GPUsPerNode != 0:
		return fmt.Errorf("cluster: SetGPUs gpus = %d: must be a multiple of GPUsPerNode = %d", gpus, c.cfg.GPUsPerNode)
	}
	off, err := c.at("SetGPUs", now)
	if err != nil {
		return err
	}
	c.clock = off
	nodes := 1
	if !c.singleNode {
		nodes = gpus / c.cfg.GPUsPerNode
	}
	for len(c.nodes) < nodes {
		c.nodes = append(c.nodes, node{cap: c.cfg.GPUsPerNode, ready: true, live: true})
	}
	for i := range c.nodes {
		switch {
		case i >= nodes:
			c.nodes[i].cap = 0
		case c.singleNode:
			c.nodes[i].cap = gpus
		}
	}
	evicted := 0
	for i := range c.nodes {
		if c.nodes[i].used <= c.nodes[i].cap {
			continue
		}
		var on []*pod
		for _, p := range c.pods {
			if p.node == i {
				on = append(on, p)
			}
		}
		slices.SortFunc(on, func(a, b *pod) int {
			if c := cmp.Compare(b.scheduled, a.scheduled); c != 0 {
				return c
			}
			return cmp.Compare(b.id, a.id)
		})
		for _, p := range on {
			if c.nodes[i].used <= c.nodes[i].cap {
				break
			}
			c.remove(p, off)
			evicted++
		}
	}
	c.nodes = c.nodes[:nodes]
	c.compactPods()
	c.totals.Evictions += evicted
	for range evicted {
		c.create(off)
	}
	c.schedule(off)
	return nil
}

// create adds a Pending pod created at off.
func (c *Cluster) create(off time.Duration) {
	c.nextID++
	c.pods = append(c.pods, &pod{id: c.nextID, created: off, node: -1})
}

// remove deletes p at off and frees its GPUs; compactPods (or
// compactHolders) drops it from the live list.
func (c *Cluster) remove(p *pod, off time.Duration) {
	p.deleted, p.deletedAt = true, off
	if p.isScheduled() {
		c.release(p.node, off)
	}
	c.gone = append(c.gone, p)
}

func (c *Cluster) compactPods() {
	c.pods = slices.DeleteFunc(c.pods, func(p *pod) bool { return p.deleted })
}

// schedule binds Pending pods at off, the Deployment's first, in creation
// order (FIFO), then the placeholders, which have the lowest priority: a
// Deployment's pod that finds no room preempts one. Each pod goes to the
// fullest Ready node that still has room (best fit, lowest index on ties).
// All pods are the same size, so once one does not fit none behind it
// does. The pods still Pending then call for nodes (elastic pools).
func (c *Cluster) schedule(off time.Duration) {
	for _, p := range c.pods {
		if p.isScheduled() {
			continue
		}
		best := c.bestFit()
		if best < 0 {
			best = c.preempt(off)
		}
		if best < 0 {
			break
		}
		c.bind(p, best, off)
		p.readyAt = off + c.cfg.Startup
		if j := c.cfg.StartupJitter; j > 0 {
			p.readyAt += time.Duration(c.rng.Int64N(2*int64(j)+1)) - j
		}
	}
	for _, h := range c.holders {
		if h.isScheduled() {
			continue
		}
		best := c.bestFit()
		if best < 0 {
			break
		}
		c.bind(h, best, off)
		h.readyAt = off // a pause container: nothing to load
	}
	c.provision(off)
}

// bestFit is the Ready node with the least room that still holds one pod,
// or -1.
func (c *Cluster) bestFit() int {
	need, best := c.cfg.GPUsPerReplica, -1
	for i, n := range c.nodes {
		free := n.cap - n.used
		if n.ready && n.live && free >= need && (best < 0 || free < c.nodes[best].cap-c.nodes[best].used) {
			best = i
		}
	}
	return best
}

// Advance simulates the next tick, [Now(), Now()+Tick), in which arrivals
// requests arrive, spread evenly. arrivals must be a finite number >= 0; a
// per-minute count is split over TicksPerMinute ticks by the caller.
func (c *Cluster) Advance(arrivals float64) (TickResult, error) {
	if !(arrivals >= 0) || math.IsInf(arrivals, 1) {
		return TickResult{}, fmt.Errorf("cluster: Advance arrivals = %v: must be a finite number >= 0", arrivals)
	}
	tick := c.cfg.Tick
	from, to := c.now, c.now+tick
	c.settle(to)

	// Pod time in the tick, in exact nanoseconds.
	var readyTime, gpuTime, pendingTime, holderTime time.Duration
	account := func(p *pod) {
		end := p.endOf()
		if p.holder {
			if p.isScheduled() {
				holderTime += overlap(p.scheduled, end, from, to) * time.Duration(c.cfg.GPUsPerReplica)
			}
			return
		}
		if !p.isScheduled() {
			pendingTime += overlap(p.created, end, from, to)
			return
		}
		pendingTime += overlap(p.created, p.scheduled, from, to)
		gpuTime += overlap(p.scheduled, end, from, to) * time.Duration(c.cfg.GPUsPerReplica)
		readyTime += overlap(p.readyAt, end, from, to)
	}
	for _, p := range c.pods {
		account(p)
	}
	for _, p := range c.holders {
		account(p)
	}
	for _, p := range c.gone {
		account(p)
	}
	clear(c.gone)
	c.gone = c.gone[:0]
	nodeTime := c.nodeTime(from, to)

	capacity := c.cfg.ReplicaCapacity * minutes(readyTime)
	q := c.queue.step(seconds(from), seconds(tick), capacity, arrivals, seconds(c.cfg.MaxWait), &c.waits)
	backlog := c.queue.backlog

	counts := c.countAt(to)
	// Metric samples at the end of the tick, shared equally by Ready pods.
	var depth, util float64
	if counts.Ready > 0 {
		inService := q.served / seconds(tick) * seconds(c.cfg.ServiceTime)
		depth = (backlog + inService) / float64(counts.Ready)
		util = (q.served + backlog) / (float64(counts.Ready) * c.cfg.ReplicaCapacity * minutes(tick))
	}
	for _, p := range c.pods {
		p.sampled = p.phaseAt(to) == PhaseReady
	}
	c.depth, c.util = depth, util

	res := TickResult{Tick: Interval{
		Start:               c.start.Add(from),
		Length:              tick,
		Demand:              arrivals,
		Capacity:            capacity,
		Served:              q.served,
		Backlog:             backlog,
		Late:                q.late,
		GPUHours:            gpuTime.Hours(),
		PlaceholderGPUHours: holderTime.Hours(),
		NodeGPUHours:        nodeTime.Hours(),
		PendingPodMinutes:   pendingTime.Minutes(),
		Replicas:            c.spec,
		Pods:                counts,
	}}

	// Minute roll-up; capacity from the exact Ready pod-time.
	m := &c.minute
	m.Demand += arrivals
	m.Served += q.served
	m.Late += q.late
	m.GPUHours += res.Tick.GPUHours
	m.PlaceholderGPUHours += res.Tick.PlaceholderGPUHours
	m.NodeGPUHours += res.Tick.NodeGPUHours
	m.PendingPodMinutes += res.Tick.PendingPodMinutes
	c.minuteReadyTime += readyTime
	c.ticks++
	if c.ticks%c.cfg.TicksPerMinute() == 0 {
		m.Capacity = c.cfg.ReplicaCapacity * minutes(c.minuteReadyTime)
		m.Backlog, m.Replicas, m.Pods = backlog, c.spec, counts
		done := *m
		res.Minute = &done
		c.totals.Minutes++
		if done.Overloaded() {
			c.totals.OverloadedMinutes++
		}
		c.minute = Interval{Start: c.start.Add(to), Length: time.Minute}
		c.minuteReadyTime = 0
	}

	t := &c.totals
	t.Demand += arrivals
	t.Served += q.served
	t.Late += q.late
	t.GPUHours += res.Tick.GPUHours
	t.PlaceholderGPUHours += res.Tick.PlaceholderGPUHours
	t.NodeGPUHours += res.Tick.NodeGPUHours
	t.PendingPodMinutes += res.Tick.PendingPodMinutes

	c.now, c.clock = to, to
	return res, nil
}

// countAt counts the live pods by phase at off.
func (c *Cluster) countAt(off time.Duration) PodCounts {
	var n PodCounts
	for _, p := range c.pods {
		switch p.phaseAt(off) {
		case PhaseReady:
			n.Ready++
		case PhaseStarting:
			n.Starting++
		default:
			n.Pending++
		}
	}
	n.Total = len(c.pods)
	n.GPUs = (n.Ready + n.Starting) * c.cfg.GPUsPerReplica
	return n
}

// Pods lists the live pods in creation order, with the metric sample of the
// last tick for those that were Ready at its end.
func (c *Cluster) Pods() []PodView { return c.PodsInto(nil) }

// PodsInto is Pods written into buf's storage when it is large enough, so a
// caller that asks every tick allocates nothing.
func (c *Cluster) PodsInto(buf []PodView) []PodView {
	out := buf[:0]
	if cap(out) < len(c.pods) {
		out = make([]PodView, len(c.pods))
	}
	out = out[:len(c.pods)]
	for i, p := range c.pods {
		v := PodView{ID: p.id, Phase: p.phaseAt(c.clock), Node: p.node, Created: c.start.Add(p.created)}
		if p.isScheduled() {
			v.Scheduled = c.start.Add(p.scheduled)
			v.GPUs = c.cfg.GPUsPerReplica
		}
		if v.Phase == PhaseReady {
			v.ReadySince = c.start.Add(p.readyAt)
		}
		if p.sampled {
			v.HasSample, v.QueueDepth, v.Utilization = true, c.depth, c.util
		}
		out[i] = v
	}
	return out
}

// WaitQuantile estimates the q-quantile (0 <= q <= 1) of the queue wait over
// every request so far: served requests with their wait, requests still
// queued with their age at Now(), a lower bound on their wait. See the
// package documentation for how waits are computed.
func (c *Cluster) WaitQuantile(q float64) (time.Duration, error) {
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("cluster: WaitQuantile q = %v: must be in [0, 1]", q)
	}
	h := c.waits // a copy: the queued ages are not final
	c.queue.addAges(seconds(c.now), &h)
	return time.Duration(math.Round(h.quantile(q) * 1e9)), nil
}

// Summary summarises the run so far.
func (c *Cluster) Summary() Summary {
	s := c.totals
	s.Duration = c.now
	s.Backlog = c.queue.backlog
	if s.Demand > 0 {
		s.LatePercent = 100 * s.Late / s.Demand
	}
	s.P99Wait, _ = c.WaitQuantile(0.99)
	return s
}

func seconds(d time.Duration) float64 { return d.Seconds() }
func minutes(d time.Duration) float64 { return float64(d) / float64(time.Minute) }
