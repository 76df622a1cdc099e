package cluster

import (
	"testing"
	"time"
)

// benchCluster has 30 Ready pods of 2 GPUs each on 8-GPU nodes, 15 s ticks.
func benchCluster(b *testing.B) *Cluster {
	b.Helper()
	cfg := Config{
		ReplicaCapacity: 120,
		Startup:         3 * time.Minute,
		StartupJitter:   30 * time.Second,
		GPUs:            64,
		GPUsPerReplica:  2,
		GPUsPerNode:     8,
		ServiceTime:     2 * time.Second,
		Seed:            1,
	}
	c, err := New(cfg, t0, 30)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkAdvance is one tick with 30 pods, demand swinging around capacity
// so that the queue fills and drains.
func BenchmarkAdvance(b *testing.B) {
	c := benchCluster(b)
	demand := []float64{800, 1000, 1100, 700} // per tick; capacity is 900
	i := 0
	for b.Loop() {
		if _, err := c.Advance(demand[i%len(demand)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHPATick is what a backtest does every 15 s: set replicas (here
// alternating 30 and 32), advance, read the pods.
func BenchmarkHPATick(b *testing.B) {
	c := benchCluster(b)
	i := 0
	for b.Loop() {
		if err := c.SetReplicas(c.Now(), int32(30+2*(i/8%2))); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Advance(900); err != nil {
			b.Fatal(err)
		}
		if len(c.Pods()) == 0 {
			b.Fatal("no pods")
		}
		i++
	}
}
