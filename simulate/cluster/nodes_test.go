package cluster

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// elasticConfig is validConfig on an elastic pool: nodes of 4 GPUs (4 pods),
// at most 4 of them, Ready 5 minutes after they are requested, removed
// after a minute empty.
func elasticConfig() Config {
	cfg := validConfig()
	cfg.GPUs, cfg.GPUsPerNode = 16, 4
	cfg.NodeDelay, cfg.ConsolidateAfter = 5*time.Minute, time.Minute
	return cfg
}

// advanceTo advances whole ticks until Now() reaches at.
func advanceTo(t testing.TB, c *Cluster, at time.Duration) {
	t.Helper()
	for c.Now().Before(t0.Add(at)) {
		mustAdvance(t, c, 0)
	}
}

func mustPlaceholders(t testing.TB, c *Cluster, at time.Duration, n int32) {
	t.Helper()
	if err := c.SetPlaceholders(t0.Add(at), n); err != nil {
		t.Fatal(err)
	}
}

// A pod that fits on no Ready node is Pending and calls for a node; the
// node is Ready NodeDelay after the request, mid-tick, and the pod is bound
// at that instant, its start-up beginning then.
func TestPendingPodCallsForANode(t *testing.T) {
	c := mustNew(t, elasticConfig(), 2)
	if p := c.Pool(); p.ReadyNodes != 1 || p.LaunchingNodes != 0 {
		t.Fatalf("pool %+v at the start, want the one node two pods need", p)
	}
	mustSet(t, c, 10*time.Second, 7) // 2 more fit, 3 wait for one new node
	if p, s := c.Pool(), c.Summary(); p.LaunchingNodes != 1 || s.NodesLaunched != 1 {
		t.Fatalf("pool %+v, %d launched: want one node for three Pending pods", p, s.NodesLaunched)
	}
	joined := 10*time.Second + 5*time.Minute
	advanceTo(t, c, 5*time.Minute) // the tick that ends before the node is Ready
	if p := podByID(t, c, 7); p.Phase != PhasePending {
		t.Fatalf("pod 7 %v before its node is Ready", p.Phase)
	}
	advanceTo(t, c, joined+time.Minute+5*time.Second)
	for _, id := range []int{5, 6, 7} {
		p := podByID(t, c, id)
		if !p.Scheduled.Equal(t0.Add(joined)) || !p.ReadySince.Equal(t0.Add(joined+time.Minute)) {
			t.Errorf("pod %d scheduled %v, Ready %v: want the node's Ready instant %v, then the start-up", id,
				p.Scheduled.Sub(t0), p.ReadySince.Sub(t0), joined)
		}
	}
	if p := c.Pool(); p.ReadyNodes != 2 || p.LaunchingNodes != 0 {
		t.Errorf("pool %+v, want two Ready nodes", p)
	}
	// Pods: 1, 2 from the start; 3, 4 from 10 s; 5–7 from the node's Ready.
	end := c.Now().Sub(t0)
	want := (2*end + 2*(end-10*time.Second) + 3*(end-joined)).Hours()
	if s := c.Summary(); !near(s.GPUHours, want, 1e-12) {
		t.Errorf("pod GPU-hours %v, want %v", s.GPUHours, want)
	}
	// Nodes: the first from the start, the second from its request.
	wantNodes := (4 * (end + end - 10*time.Second)).Hours()
	if s := c.Summary(); !near(s.NodeGPUHours, wantNodes, 1e-12) {
		t.Errorf("node GPU-hours %v, want %v (paid from the request)", s.NodeGPUHours, wantNodes)
	}
}

// Pending pods that the nodes in flight will hold call for no more nodes,
// and the pool never outgrows its limit.
func TestProvisionCountsNodesInFlightAndTheLimit(t *testing.T) {
	c := mustNew(t, elasticConfig(), 4)
	steps := []struct {
		at       time.Duration
		replicas int32
		launched int
	}{
		{0, 6, 1},                 // 2 Pending: one node
		{15 * time.Second, 8, 1},  // 4 Pending: the node in flight holds them
		{30 * time.Second, 9, 2},  // 5 Pending: one more
		{45 * time.Second, 40, 3}, // the limit of 4 nodes: one more, the rest stay Pending
	}
	for _, st := range steps {
		advanceTo(t, c, st.at)
		mustSet(t, c, st.at, st.replicas)
		if s := c.Summary(); s.NodesLaunched != st.launched {
			t.Fatalf("at %v with %d replicas: %d nodes launched, want %d", st.at, st.replicas, s.NodesLaunched, st.launched)
		}
	}
	advanceTo(t, c, 10*time.Minute)
	p, counts := c.Pool(), c.countAt(c.clock)
	if p.ReadyNodes != 4 || counts.Ready != 16 || counts.Pending != 24 {
		t.Errorf("pool %+v, pods %+v: want 4 nodes full, 24 pods Pending", p, counts)
	}
}

// An empty node is removed ConsolidateAfter after its last pod left; the
// minimum stays, and is paid for, empty.
func TestConsolidation(t *testing.T) {
	cfg := elasticConfig()
	cfg.MinNodes = 1
	c := mustNew(t, cfg, 8) // pods 1–4 on node 0, 5–8 on node 1
	mustSet(t, c, 0, 1)     // the most recently created go first: node 1 empties
	advanceTo(t, c, time.Minute-15*time.Second)
	if p := c.Pool(); p.ReadyNodes != 2 {
		t.Fatalf("pool %+v before the consolidation delay, want 2 nodes", p)
	}
	advanceTo(t, c, 2*time.Minute)
	if p := c.Pool(); p.ReadyNodes != 1 {
		t.Fatalf("pool %+v a minute after node 1 emptied, want 1 node", p)
	}
	mustSet(t, c, 2*time.Minute, 0)
	advanceTo(t, c, 5*time.Minute)
	if p := c.Pool(); p.ReadyNodes != 1 {
		t.Errorf("pool %+v: MinNodes 1 was removed", p)
	}
	want := (4*5*time.Minute + 4*time.Minute).Hours()
	if s := c.Summary(); !near(s.NodeGPUHours, want, 1e-12) {
		t.Errorf("node GPU-hours %v, want %v", s.NodeGPUHours, want)
	}
}

// Placeholders call for nodes like pods, hold GPUs (counted apart), and
// give them up at once to the Deployment's pods; their replacements call
// for a node in turn.
func TestPlaceholders(t *testing.T) {
	c := mustNew(t, elasticConfig(), 2)
	mustPlaceholders(t, c, 0, 6) // 2 beside the pods, 4 on a new node
	if p := c.Pool(); p.LaunchingNodes != 1 || p.Placeholders != 6 || p.PendingPlaceholders != 4 {
		t.Fatalf("pool %+v, want one node launching for 4 Pending placeholders", p)
	}
	advanceTo(t, c, 6*time.Minute)
	if p := c.Pool(); p.ReadyNodes != 2 || p.PendingPlaceholders != 0 {
		t.Fatalf("pool %+v after the node delay, want every placeholder scheduled", p)
	}
	mustSet(t, c, 6*time.Minute, 6) // no room: 4 placeholders preempted
	for _, p := range c.Pods() {
		if p.Phase == PhasePending || p.ID > 2 && !p.Scheduled.Equal(t0.Add(6*time.Minute)) {
			t.Fatalf("pod %d %v scheduled %v: want it bound at once in a placeholder's place", p.ID, p.Phase, p.Scheduled.Sub(t0))
		}
	}
	p, s := c.Pool(), c.Summary()
	if s.Preemptions != 4 || p.PendingPlaceholders != 4 || p.LaunchingNodes != 1 || len(c.Pods()) != 6 {
		t.Fatalf("pool %+v, %d preemptions, %d pods: want 4 replacements Pending on a new node", p, s.Preemptions, len(c.Pods()))
	}
	mustPlaceholders(t, c, 6*time.Minute, 0)
	advanceTo(t, c, 13*time.Minute)
	if p := c.Pool(); p.ReadyNodes != 2 || p.Placeholders != 0 {
		t.Errorf("pool %+v: the node the replacements called for is Ready empty and must be gone", p)
	}
	// 2 placeholders for 6 minutes, 4 from the node's Ready (5 m) to 6 m.
	want := (2*6*time.Minute + 4*time.Minute).Hours()
	if s := c.Summary(); !near(s.PlaceholderGPUHours, want, 1e-12) {
		t.Errorf("placeholder GPU-hours %v, want %v", s.PlaceholderGPUHours, want)
	}
}

// Random pods and placeholders on an elastic pool: the pool stays within
// its limit, no pod of the Deployment waits while a Ready node has room
// (free, or a placeholder's), and the nodes' GPU time covers every pod's.
func TestElasticInvariants(t *testing.T) {
	var launched, preempted int
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := elasticConfig()
		cfg.GPUsPerReplica = 1 + rng.IntN(2)
		cfg.MinNodes = rng.IntN(2)
		cfg.ConsolidateAfter = time.Duration(rng.IntN(3)) * 30 * time.Second
		c := mustNew(t, cfg, int32(rng.IntN(5)))
		for k := range 400 {
			at := c.Now().Sub(t0) + time.Duration(rng.IntN(15))*time.Second
			if rng.IntN(4) == 0 {
				mustSet(t, c, at, int32(rng.IntN(12)))
			}
			if rng.IntN(6) == 0 {
				mustPlaceholders(t, c, at, int32(rng.IntN(6)))
			}
			mustAdvance(t, c, 0)
			checkElastic(t, c, seed, k)
		}
		s := c.Summary()
		if s.NodeGPUHours < s.GPUHours+s.PlaceholderGPUHours-1e-9 {
			t.Errorf("seed %d: node GPU-hours %v below pods' %v + placeholders' %v", seed, s.NodeGPUHours, s.GPUHours, s.PlaceholderGPUHours)
		}
		launched, preempted = launched+s.NodesLaunched, preempted+s.Preemptions
	}
	if launched == 0 || preempted == 0 {
		t.Errorf("%d nodes launched, %d preemptions: the runs did not exercise the pool", launched, preempted)
	}
	t.Logf("%d nodes launched, %d placeholders preempted", launched, preempted)
}

func checkElastic(t *testing.T, c *Cluster, seed uint64, tick int) {
	t.Helper()
	p := c.Pool()
	if n := p.ReadyNodes + p.LaunchingNodes; n > c.maxNodes() || n < c.cfg.MinNodes {
		t.Fatalf("seed %d tick %d: %d nodes, outside [%d, %d]", seed, tick, n, c.cfg.MinNodes, c.maxNodes())
	}
	pending := slices.ContainsFunc(c.pods, func(p *pod) bool { return !p.isScheduled() })
	room := c.bestFit() >= 0 || p.Placeholders > p.PendingPlaceholders
	if pending && room {
		t.Fatalf("seed %d tick %d: a pod Pending while a Ready node has room (pool %+v)", seed, tick, p)
	}
}

func TestCallsTheElasticPoolRefuses(t *testing.T) {
	c := mustNew(t, elasticConfig(), 1)
	if err := c.SetGPUs(t0, 8); err == nil {
		t.Error("SetGPUs resized an elastic pool")
	}
	if err := c.SetPlaceholders(t0, -1); err == nil {
		t.Error("SetPlaceholders accepted -1")
	}
	if err := mustNew(t, validConfig(), 1).SetPlaceholders(t0, 1); err == nil {
		t.Error("SetPlaceholders on a fixed pool")
	}
}
