package cluster_test

import (
	"fmt"
	"time"

	"github.com/prescaler/prescaler/simulate/cluster"
)

// A backtest loop: per-minute demand split over 15 s ticks, a policy setting
// replicas before each tick (here: a fixed step up at minute 1), and the
// summary at the end.
func Example() {
	cfg := cluster.Config{
		ReplicaCapacity: 60, // requests per minute per Ready replica
		Startup:         90 * time.Second,
		GPUs:            8,
		GPUsPerReplica:  2,
	}
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	c, err := cluster.New(cfg, start, 1)
	if err != nil {
		panic(err)
	}
	demand := []float64{60, 120, 120, 120, 60} // requests per minute
	for m, d := range demand {
		for range cfg.TicksPerMinute() {
			if m == 1 {
				if err := c.SetReplicas(c.Now(), 2); err != nil {
					panic(err)
				}
			}
			r, err := c.Advance(d / float64(cfg.TicksPerMinute()))
			if err != nil {
				panic(err)
			}
			if mr := r.Minute; mr != nil {
				fmt.Printf("minute %d: demand %3.0f capacity %3.0f served %3.0f backlog %3.0f late %3.0f ready %d/%d\n",
					m, mr.Demand, mr.Capacity, mr.Served, mr.Backlog, mr.Late, mr.Pods.Ready, mr.Pods.Total)
			}
		}
	}
	s := c.Summary()
	fmt.Printf("overloaded minutes %d, late %.1f%%, p99 wait %v, GPU-hours %.3f, scale events %d\n",
		s.OverloadedMinutes, s.LatePercent, s.P99Wait.Round(time.Second), s.GPUHours, s.ScaleEvents)
	// Output:
	// minute 0: demand  60 capacity  60 served  60 backlog   0 late   0 ready 1/1
	// minute 1: demand 120 capacity  60 served  60 backlog  60 late  60 ready 1/2
	// minute 2: demand 120 capacity  90 served  90 backlog  90 late 120 ready 2/2
	// minute 3: demand 120 capacity 120 served 120 backlog  90 late 120 ready 2/2
	// minute 4: demand  60 capacity 120 served 120 backlog  30 late  75 ready 2/2
	// overloaded minutes 2, late 78.1%, p99 wait 45s, GPU-hours 0.300, scale events 1
}
