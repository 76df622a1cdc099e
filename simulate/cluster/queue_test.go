package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// near reports whether got is within a relative (or, near zero, absolute)
// tolerance tol of want.
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*max(1, math.Abs(want))
}

func mustNew(t testing.TB, cfg Config, replicas int32) *Cluster {
	t.Helper()
	c, err := New(cfg, t0, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAdvance(t testing.TB, c *Cluster, arrivals float64) TickResult {
	t.Helper()
	r, err := c.Advance(arrivals)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustQuantile(t testing.TB, c *Cluster, q float64) time.Duration {
	t.Helper()
	d, err := c.WaitQuantile(q)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestQueueHandWorked replays short runs on one pod whose served, backlog,
// late and wait figures are worked out by hand from the fluid FIFO model.
// With one pod at rate μ and arrivals at rate a > μ from an empty queue, the
// request arriving at s is served at (a/μ)·s, so its wait is (a/μ − 1)·s.
func TestQueueHandWorked(t *testing.T) {
	cases := []struct {
		name        string
		capacity    float64 // requests per minute per replica
		tick        time.Duration
		maxWait     time.Duration
		arrivals    []float64 // per tick
		wantServed  []float64
		wantBacklog []float64
		wantLate    []float64
		wantP50     time.Duration
		wantP99     time.Duration
	}{
		{
			// Capacity 15 a tick, 30 arriving: a/μ = 2, wait = s for s in
			// [0, 60). Waits pass 15 s in the tick containing s + 15.
			name:     "twice the capacity for a minute, then none",
			capacity: 60, tick: 15 * time.Second,
			arrivals:    []float64{30, 30, 30, 30, 0, 0, 0, 0},
			wantServed:  []float64{15, 15, 15, 15, 15, 15, 15, 15},
			wantBacklog: []float64{15, 30, 45, 60, 45, 30, 15, 0},
			wantLate:    []float64{0, 0, 30, 30, 30, 0, 0, 0},
			wantP50:     30 * time.Second,
			wantP99:     59400 * time.Millisecond,
		},
		{
			name:     "under capacity: no queue",
			capacity: 60, tick: 15 * time.Second,
			arrivals:    []float64{10, 0, 14.5, 15},
			wantServed:  []float64{10, 0, 14.5, 15},
			wantBacklog: []float64{0, 0, 0, 0},
			wantLate:    []float64{0, 0, 0, 0},
		},
		{
			// One-minute ticks, a/μ = 1.5: wait = s/2, at most 30 s. Waits
			// above 20 s belong to s > 40: the 30 requests served in tick 2.
			name:     "one and a half times the capacity, MaxWait 20s",
			capacity: 60, tick: time.Minute, maxWait: 20 * time.Second,
			arrivals:    []float64{90, 0},
			wantServed:  []float64{60, 30},
			wantBacklog: []float64{30, 0},
			wantLate:    []float64{0, 30},
			wantP50:     15 * time.Second,
			wantP99:     29700 * time.Millisecond,
		},
		{
			// As above with MaxWait 10 s: late when s/2 > 10, i.e. s > 20, 60
			// requests. The wait of the one arriving at s passes 10 s at
			// s + 10: within tick 0 for s ≤ 50 (30 served late, 15 still
			// queued), in tick 1 for the 15 that arrived after 50 s.
			name:     "MaxWait shorter than a tick",
			capacity: 60, tick: time.Minute, maxWait: 10 * time.Second,
			arrivals:    []float64{90, 0},
			wantServed:  []float64{60, 30},
			wantBacklog: []float64{30, 0},
			wantLate:    []float64{45, 15},
			wantP50:     15 * time.Second,
			wantP99:     29700 * time.Millisecond,
		},
		{
			// 150 in one tick, 30 a tick served: the backlog drains by 30 a
			// tick. a/μ = 5, wait = 4s for s in [0, 15): over 15 s when
			// s > 3.75, i.e. 112.5 requests, all of which pass 15 s
			// between 18.75 s and 30 s, in tick 1, most still queued.
			name:     "burst drains at capacity; late counted while queued",
			capacity: 120, tick: 15 * time.Second,
			arrivals:    []float64{150, 0, 0, 0, 0, 0},
			wantServed:  []float64{30, 30, 30, 30, 30, 0},
			wantBacklog: []float64{120, 90, 60, 30, 0, 0},
			wantLate:    []float64{0, 112.5, 0, 0, 0, 0},
			wantP50:     30 * time.Second,
			wantP99:     59400 * time.Millisecond,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.ReplicaCapacity, cfg.Tick, cfg.MaxWait = tc.capacity, tc.tick, tc.maxWait
			c := mustNew(t, cfg, 1)
			for i, a := range tc.arrivals {
				r := mustAdvance(t, c, a)
				if !near(r.Tick.Served, tc.wantServed[i], 1e-9) || !near(r.Tick.Backlog, tc.wantBacklog[i], 1e-9) ||
					!near(r.Tick.Late, tc.wantLate[i], 1e-9) {
					t.Errorf("tick %d: served %v backlog %v late %v, want %v %v %v", i,
						r.Tick.Served, r.Tick.Backlog, r.Tick.Late, tc.wantServed[i], tc.wantBacklog[i], tc.wantLate[i])
				}
			}
			for _, q := range []struct {
				q    float64
				want time.Duration
			}{{0.5, tc.wantP50}, {0.99, tc.wantP99}} {
				got := mustQuantile(t, c, q.q)
				if !near(got.Seconds(), q.want.Seconds(), 1e-6) {
					t.Errorf("wait quantile %v = %v, want %v", q.q, got, q.want)
				}
			}
			if s := c.Summary(); s.P99Wait != mustQuantile(t, c, 0.99) {
				t.Errorf("Summary().P99Wait = %v, want WaitQuantile(0.99)", s.P99Wait)
			}
		})
	}
}

// TestWaitQuantileCountsQueuedAges: requests still waiting count with their
// age, so a run that ends with a stuck queue does not report small waits.
func TestWaitQuantileCountsQueuedAges(t *testing.T) {
	cfg := validConfig()
	cfg.Tick = time.Minute
	c := mustNew(t, cfg, 0)
	mustAdvance(t, c, 60) // arrivals over [0, 60 s), none served
	// Ages at the end of the tick are spread over [0, 60 s]: the median is 30 s.
	if got := mustQuantile(t, c, 0.5); !near(got.Seconds(), 30, 1e-6) {
		t.Errorf("median wait with everything queued = %v, want 30s", got)
	}
	if _, err := c.WaitQuantile(1.5); err == nil {
		t.Error("WaitQuantile(1.5) accepted")
	}
}

// TestConservation drives random runs (random configurations, demand,
// replica changes and GPU changes) and checks at every tick that every
// request that arrived is either served or queued, that service is
// work-conserving, and that the pod and GPU books balance.
func TestConservation(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			randomRun(t, seed, 200)
		})
	}
}

// randomRun simulates ticks ticks of a random scenario, checking invariants,
// and returns every tick result and the final pods.
func randomRun(t testing.TB, seed uint64, ticks int) ([]TickResult, []PodView) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	cfg := Config{
		ReplicaCapacity: 10 + 200*rng.Float64(),
		Startup:         time.Duration(rng.IntN(300)) * time.Second,
		GPUsPerReplica:  1 + rng.IntN(3),
		Tick:            []time.Duration{10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}[rng.IntN(4)],
		MaxWait:         time.Duration(rng.IntN(90)) * time.Second,
		ServiceTime:     time.Duration(rng.IntN(5000)) * time.Millisecond,
		Seed:            seed,
	}
	cfg.StartupJitter = time.Duration(rng.Int64N(int64(cfg.Startup) + 1))
	if rng.IntN(2) == 0 {
		cfg.GPUsPerNode = 4
		cfg.GPUs = 4 * (1 + rng.IntN(6))
	} else {
		cfg.GPUs = cfg.GPUsPerReplica * (1 + rng.IntN(20))
	}
	nodeSize := cfg.GPUs
	if cfg.GPUsPerNode > 0 {
		nodeSize = cfg.GPUsPerNode
	}
	fit := cfg.GPUs / nodeSize * (nodeSize / cfg.GPUsPerReplica)
	c := mustNew(t, cfg, int32(rng.IntN(fit+1)))
	gpus := cfg.GPUs
	maxPods := cfg.GPUs/cfg.GPUsPerReplica + 3
	tpm := cfg.TicksPerMinute()
	level := 0.5 + 3*rng.Float64() // demand in replicas' worth

	var results []TickResult
	var arrived, served, late, gpuHours float64
	for k := range ticks {
		// Up to two events inside the next tick, in time order.
		offs := []time.Duration{time.Duration(rng.Int64N(int64(cfg.Tick))), time.Duration(rng.Int64N(int64(cfg.Tick)))}
		if offs[1] < offs[0] {
			offs[0], offs[1] = offs[1], offs[0]
		}
		if rng.Float64() < 0.3 {
			if err := c.SetReplicas(c.Now().Add(offs[0]), int32(rng.IntN(maxPods+1))); err != nil {
				t.Fatal(err)
			}
		}
		if rng.Float64() < 0.05 {
			step := cfg.GPUsPerReplica
			if cfg.GPUsPerNode > 0 {
				step = cfg.GPUsPerNode
			}
			gpus = step * rng.IntN(cfg.GPUs/step+3)
			if err := c.SetGPUs(c.Now().Add(offs[1]), gpus); err != nil {
				t.Fatal(err)
			}
		}
		if k%tpm == 0 {
			level = max(0, level*math.Exp(0.4*rng.NormFloat64()))
		}
		demand := level * cfg.ReplicaCapacity * float64(c.Replicas()+1) / float64(tpm)
		if rng.Float64() < 0.1 {
			demand = 0
		}
		prev := c.queue.backlog
		r := mustAdvance(t, c, demand)
		results = append(results, r)
		arrived += demand
		served += r.Tick.Served
		late += r.Tick.Late
		gpuHours += r.Tick.GPUHours

		tol := 1e-9 * max(1, arrived)
		if d := arrived - served - r.Tick.Backlog; math.Abs(d) > tol {
			t.Fatalf("tick %d: arrived %v != served %v + backlog %v (off by %g)", k, arrived, served, r.Tick.Backlog, d)
		}
		if want := min(prev+demand, r.Tick.Capacity); math.Abs(r.Tick.Served-want) > tol {
			t.Fatalf("tick %d: served %v, want min(backlog %v + arrivals %v, capacity %v)", k, r.Tick.Served, prev, demand, r.Tick.Capacity)
		}
		if r.Tick.Backlog < 0 || r.Tick.Late < -tol || late > arrived+tol {
			t.Fatalf("tick %d: backlog %v, late %v (total %v of %v)", k, r.Tick.Backlog, r.Tick.Late, late, arrived)
		}
		n := r.Tick.Pods
		if n.Total != int(c.Replicas()) || n.Ready+n.Starting+n.Pending != n.Total {
			t.Fatalf("tick %d: pods %+v, spec %d", k, n, c.Replicas())
		}
		if n.GPUs != (n.Ready+n.Starting)*cfg.GPUsPerReplica || n.GPUs > gpus {
			t.Fatalf("tick %d: %d GPUs held by %d scheduled pods on %d GPUs", k, n.GPUs, n.Ready+n.Starting, gpus)
		}
		if n.Pending > 0 && cfg.GPUsPerNode == 0 && n.GPUs+cfg.GPUsPerReplica <= gpus {
			t.Fatalf("tick %d: %d pods Pending with %d of %d GPUs free", k, n.Pending, gpus-n.GPUs, gpus)
		}
		if maxCap := cfg.ReplicaCapacity * float64(gpus/cfg.GPUsPerReplica+maxPods) * cfg.Tick.Minutes(); r.Tick.Capacity > maxCap {
			t.Fatalf("tick %d: capacity %v above %v", k, r.Tick.Capacity, maxCap)
		}
		if (r.Minute != nil) != ((k+1)%tpm == 0) {
			t.Fatalf("tick %d: minute result %v", k, r.Minute)
		}
		if m := r.Minute; m != nil {
			var want Interval
			for _, x := range results[len(results)-tpm:] {
				want.Demand += x.Tick.Demand
				want.Capacity += x.Tick.Capacity
				want.Served += x.Tick.Served
				want.Late += x.Tick.Late
				want.GPUHours += x.Tick.GPUHours
			}
			tol := 1e-9 * max(1, want.Demand, want.Capacity)
			if !near(m.Demand, want.Demand, tol) || !near(m.Capacity, want.Capacity, tol) || !near(m.Served, want.Served, tol) ||
				!near(m.Late, want.Late, tol) || !near(m.GPUHours, want.GPUHours, 1e-9) || m.Backlog != r.Tick.Backlog || m.Pods != r.Tick.Pods {
				t.Fatalf("tick %d: minute %+v is not the sum of its ticks %+v", k, *m, want)
			}
		}
	}
	s := c.Summary()
	tol := 1e-9 * max(1, arrived)
	if !near(s.Demand, arrived, tol) || !near(s.Served, served, tol) || !near(s.Late, late, tol) ||
		!near(s.GPUHours, gpuHours, 1e-9) || s.Duration != time.Duration(ticks)*cfg.Tick {
		t.Fatalf("summary %+v disagrees with the ticks: demand %v served %v late %v GPU-h %v", s, arrived, served, late, gpuHours)
	}
	return results, c.Pods()
}

func TestLinearWindow(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name           string
		f0, f1, lo, hi float64
		want           float64 // length of the window
	}{
		{"increasing, inside", 0, 10, 2, 4, 0.2},
		{"decreasing, inside", 10, 0, 2, 4, 0.2},
		{"above lo, unbounded", 0, 10, 7.5, inf, 0.25},
		{"decreasing, above lo", 10, 0, 7.5, inf, 0.25},
		{"constant inside", 3, 3, 2, 4, 1},
		{"constant on the open lower end", 2, 2, 2, 4, 0},
		{"constant on the closed upper end", 4, 4, 2, 4, 1},
		{"disjoint", 0, 1, 2, 4, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u0, u1 := linearWindow(tc.f0, tc.f1, tc.lo, tc.hi)
			if got := max(u1-u0, 0); !near(got, tc.want, 1e-12) {
				t.Errorf("window [%v, %v], length %v, want %v", u0, u1, got, tc.want)
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	cases := []struct {
		name string
		add  func(*waitHistogram)
		q    float64
		want float64
		tol  float64
	}{
		{"empty", func(*waitHistogram) {}, 0.99, 0, 0},
		{"all zero", func(h *waitHistogram) { h.addPoint(0, 10) }, 0.99, 0, 0},
		{"uniform 0..60", func(h *waitHistogram) { h.addUniform(0, 60, 100) }, 0.99, 59.4, 1e-9},
		{"uniform 0..60 reversed", func(h *waitHistogram) { h.addUniform(60, 0, 100) }, 0.25, 15, 1e-9},
		{"half zero, half uniform 10..20", func(h *waitHistogram) { h.addPoint(0, 50); h.addUniform(10, 20, 50) }, 0.75, 15, 1e-9},
		{"point mass", func(h *waitHistogram) { h.addPoint(7, 1) }, 0.5, 7, 1e-12},
		{"two points in one bucket: within its width", func(h *waitHistogram) { h.addPoint(7, 1); h.addPoint(7.2, 1) }, 0.5, 7.1, 0.045},
		{"uniform ending inside a bucket", func(h *waitHistogram) { h.addUniform(0, 7.1, 1) }, 1, 7.1, 1e-12},
		{"beyond the last bucket", func(h *waitHistogram) { h.addPoint(1e12, 1) }, 0.5, 1e12, 1e-12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h waitHistogram
			tc.add(&h)
			if got := h.quantile(tc.q); !near(got, tc.want, tc.tol) {
				t.Errorf("quantile(%v) = %v, want %v ± %v", tc.q, got, tc.want, tc.tol)
			}
		})
	}
}
