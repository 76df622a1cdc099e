package cluster

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"
)

// ids lists the pods' IDs.
func ids(pods []PodView) []int {
	out := make([]int, len(pods))
	for i, p := range pods {
		out[i] = p.ID
	}
	return out
}

// podByID returns the pod with the given ID.
func podByID(t testing.TB, c *Cluster, id int) PodView {
	t.Helper()
	for _, p := range c.Pods() {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("no pod %d in %v", id, ids(c.Pods()))
	return PodView{}
}

func mustSet(t testing.TB, c *Cluster, at time.Duration, n int32) {
	t.Helper()
	if err := c.SetReplicas(t0.Add(at), n); err != nil {
		t.Fatal(err)
	}
}

// TestReadyAfterStartup: a pod scheduled at s is Starting until s + Startup,
// Ready from then on, and adds capacity from that instant, even mid-tick.
func TestReadyAfterStartup(t *testing.T) {
	cases := []struct {
		name    string
		startup time.Duration
		at      time.Duration // when replicas go from 1 to 2
		// The tick in which the new pod becomes Ready and the capacity of
		// that tick (requests; 1 request/s per Ready pod).
		readyTick    int
		wantCapacity float64
	}{
		// Ready at the end of tick 5: counted Ready then, serving from tick 6.
		{"on a tick boundary", 90 * time.Second, 0, 5, 15},
		{"mid-tick", 100 * time.Second, 0, 6, 15 + 5},
		{"scaled mid-tick", 100 * time.Second, 7 * time.Second, 7, 15 + 13},
		{"no start-up", 0, 7 * time.Second, 0, 15 + 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.Startup = tc.startup
			c := mustNew(t, cfg, 1)
			mustSet(t, c, tc.at, 2)
			readyAt := t0.Add(tc.at + tc.startup)
			for k := 0; k <= tc.readyTick+1; k++ {
				r := mustAdvance(t, c, 0)
				p := podByID(t, c, 2)
				end := t0.Add(time.Duration(k+1) * cfg.Tick)
				wantReady := !end.Before(readyAt)
				if p.Ready() != wantReady || (r.Tick.Pods.Ready == 2) != wantReady {
					t.Fatalf("tick %d (end %v): pod 2 %v, counts %+v; want Ready=%v", k, end.Sub(t0), p.Phase, r.Tick.Pods, wantReady)
				}
				if wantReady && (!p.ReadySince.Equal(readyAt) || p.ReadySince.Sub(p.Scheduled) != tc.startup) {
					t.Errorf("pod 2 scheduled %v Ready since %v, want Ready %v after scheduling", p.Scheduled, p.ReadySince, tc.startup)
				}
				if !p.Scheduled.Equal(t0.Add(tc.at)) || !p.Created.Equal(t0.Add(tc.at)) {
					t.Errorf("pod 2 created %v scheduled %v, want both %v", p.Created, p.Scheduled, t0.Add(tc.at))
				}
				if k == tc.readyTick && !near(r.Tick.Capacity, tc.wantCapacity, 1e-12) {
					t.Errorf("tick %d capacity %v, want %v", k, r.Tick.Capacity, tc.wantCapacity)
				}
			}
		})
	}
}

func TestStartupJitterBounds(t *testing.T) {
	cases := []struct {
		name            string
		startup, jitter time.Duration
	}{
		{"small jitter", 3 * time.Minute, 20 * time.Second},
		{"jitter equal to start-up", time.Minute, time.Minute},
		{"no jitter", 2 * time.Minute, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.Startup, cfg.StartupJitter, cfg.GPUs, cfg.Seed = tc.startup, tc.jitter, 200, 7
			c := mustNew(t, cfg, 0)
			mustSet(t, c, 0, 200)
			for range (tc.startup + tc.jitter) / cfg.Tick {
				mustAdvance(t, c, 0)
			}
			mustAdvance(t, c, 0)
			seen := map[time.Duration]bool{}
			for _, p := range c.Pods() {
				if !p.Ready() {
					t.Fatalf("pod %d not Ready after the longest start-up", p.ID)
				}
				d := p.ReadySince.Sub(p.Scheduled)
				if d < tc.startup-tc.jitter || d > tc.startup+tc.jitter {
					t.Errorf("pod %d start-up %v outside %v ± %v", p.ID, d, tc.startup, tc.jitter)
				}
				seen[d] = true
			}
			if tc.jitter > 0 && len(seen) < 100 {
				t.Errorf("only %d distinct start-ups among 200 jittered pods", len(seen))
			}
			if tc.jitter == 0 && len(seen) != 1 {
				t.Errorf("%d distinct start-ups without jitter", len(seen))
			}
		})
	}
}

// TestPendingUntilGPUsFree: pods that do not fit stay Pending (no GPUs, no
// capacity) and are scheduled FIFO at the instant GPUs are added.
func TestPendingUntilGPUsFree(t *testing.T) {
	cases := []struct {
		name        string
		gpus, per   int
		perNode     int
		initial     int32
		scaleTo     int32
		wantPending int
		addGPUs     int // total after SetGPUs, 5 s into the second tick
		wantSched   []int
		// Pending pod-minutes in the second tick.
		wantPendingAfter float64
	}{
		{"one node, full", 4, 2, 0, 2, 4, 2, 6, []int{3}, (5 + 15) / 60.0},
		{"one node, all freed", 4, 2, 0, 2, 4, 2, 8, []int{3, 4}, (5 + 5) / 60.0},
		{"stranded GPUs on nodes", 8, 3, 4, 2, 3, 1, 12, []int{3}, 5 / 60.0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.GPUs, cfg.GPUsPerReplica, cfg.GPUsPerNode = tc.gpus, tc.per, tc.perNode
			c := mustNew(t, cfg, tc.initial)
			mustSet(t, c, 0, tc.scaleTo)
			r := mustAdvance(t, c, 0)
			if r.Tick.Pods.Pending != tc.wantPending || r.Tick.Pods.Total != int(tc.scaleTo) {
				t.Fatalf("counts %+v, want %d Pending of %d", r.Tick.Pods, tc.wantPending, tc.scaleTo)
			}
			if !near(r.Tick.PendingPodMinutes, float64(tc.wantPending)/4, 1e-12) {
				t.Errorf("pending pod-minutes %v, want %v", r.Tick.PendingPodMinutes, float64(tc.wantPending)/4)
			}
			for _, p := range c.Pods() {
				if p.Phase == PhasePending && (p.GPUs != 0 || p.Node != -1 || !p.Scheduled.IsZero()) {
					t.Errorf("Pending pod %+v holds resources", p)
				}
			}
			at := cfg.Tick + 5*time.Second
			if err := c.SetGPUs(t0.Add(at), tc.addGPUs); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range c.Pods() {
				if p.Scheduled.Equal(t0.Add(at)) {
					got = append(got, p.ID)
				}
			}
			if !slices.Equal(got, tc.wantSched) {
				t.Errorf("scheduled at SetGPUs: %v, want %v", got, tc.wantSched)
			}
			r = mustAdvance(t, c, 0)
			if !near(r.Tick.PendingPodMinutes, tc.wantPendingAfter, 1e-12) {
				t.Errorf("pending pod-minutes in the tick of SetGPUs %v, want %v", r.Tick.PendingPodMinutes, tc.wantPendingAfter)
			}
		})
	}
}

func TestEviction(t *testing.T) {
	cfg := validConfig()
	cfg.GPUsPerNode = 4 // two nodes of four GPUs, one GPU a pod
	c := mustNew(t, cfg, 6)
	// Best fit puts pods 1-4 on node 0 and 5-6 on node 1.
	for _, p := range c.Pods() {
		if want := min((p.ID-1)/4, 1); p.Node != want {
			t.Fatalf("pod %d on node %d, want %d", p.ID, p.Node, want)
		}
	}
	if err := c.SetGPUs(t0.Add(3*time.Second), 4); err != nil { // drop node 1
		t.Fatal(err)
	}
	r := mustAdvance(t, c, 0)
	if got := ids(c.Pods()); !slices.Equal(got, []int{1, 2, 3, 4, 7, 8}) {
		t.Errorf("pods after losing node 1: %v, want 1-4 and replacements 7, 8", got)
	}
	if n := r.Tick.Pods; n.Pending != 2 || n.Ready != 4 || n.GPUs != 4 || c.Replicas() != 6 {
		t.Errorf("counts %+v spec %d, want 4 Ready and 2 Pending of 6", n, c.Replicas())
	}
	if s := c.Summary(); s.Evictions != 2 || s.ScaleEvents != 0 {
		t.Errorf("evictions %d scale events %d, want 2 and 0", s.Evictions, s.ScaleEvents)
	}
	// 4 pods × 15 s + 2 evicted pods × 3 s of one GPU each.
	if want := (4*15 + 2*3) / 3600.0; !near(r.Tick.GPUHours, want, 1e-12) {
		t.Errorf("GPU-hours %v, want %v", r.Tick.GPUHours, want)
	}
	// Shrinking the single node evicts the most recently scheduled pods.
	cfg = validConfig()
	cfg.Startup = 0
	c = mustNew(t, cfg, 2)
	mustSet(t, c, time.Second, 4) // pods 3, 4 scheduled at 1 s
	if err := c.SetGPUs(t0.Add(2*time.Second), 3); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Pods()); !slices.Equal(got, []int{1, 2, 3, 5}) {
		t.Errorf("pods after shrinking to 3 GPUs: %v, want [1 2 3 5]", got)
	}
}

// TestDeletionOrder checks each ReplicaSet rule the model uses on hand-built
// pods; the first pod listed is deleted first.
func TestDeletionOrder(t *testing.T) {
	const now = time.Hour
	ready := func(id, node int, created, readyAt time.Duration) *pod {
		return &pod{id: id, node: node, created: created, scheduled: created, readyAt: readyAt}
	}
	pending := func(id int, created time.Duration) *pod { return &pod{id: id, node: -1, created: created} }
	cases := []struct {
		name string
		pods []*pod
		want []int
	}{
		{"unscheduled before starting before ready", []*pod{
			ready(1, 0, 0, time.Minute),
			ready(2, 0, 10*time.Minute, 2*now), // starting
			pending(3, 0),
		}, []int{3, 2, 1}},
		{"ready more recently first, whatever the creation order", []*pod{
			ready(1, 0, 0, 30*time.Minute),
			ready(2, 0, 5*time.Minute, 10*time.Minute),
			ready(3, 0, 10*time.Minute, 20*time.Minute),
		}, []int{1, 3, 2}},
		{"starting pods: created more recently first", []*pod{
			ready(1, 0, 10*time.Minute, 2*now),
			ready(2, 0, 20*time.Minute, 3*now),
			ready(3, 0, 15*time.Minute, 4*now),
		}, []int{2, 3, 1}},
		{"pending pods: created more recently first", []*pod{
			pending(1, time.Minute), pending(2, 3*time.Minute), pending(3, 2*time.Minute),
		}, []int{2, 3, 1}},
		{"crowded node before the ready time", []*pod{
			ready(1, 0, 0, 0),
			ready(2, 0, 0, time.Minute),
			ready(3, 1, 0, 5*time.Minute), // alone on node 1, Ready last
		}, []int{2, 1, 3}},
		{"full tie: highest id first", []*pod{ready(1, 0, 0, 0), ready(2, 0, 0, 0), ready(3, 0, 0, 0)}, []int{3, 2, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pods := slices.Clone(tc.pods)
			deletionOrder(pods, now)
			var got []int
			for _, p := range pods {
				got = append(got, p.id)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deletion order %v, want %v", got, tc.want)
			}
		})
	}
}

// TestScaleDownOrder runs the ReplicaSet order end to end: pod 1 Ready from
// the start, pod 2 Ready at 60 s, then at 120 s pod 3 created (Starting) and
// pod 4 Pending (GPUs for three pods).
func TestScaleDownOrder(t *testing.T) {
	cases := []struct {
		name string
		to   int32
		want []int
	}{
		{"the Pending pod goes first", 3, []int{1, 2, 3}},
		{"then the Starting pod", 2, []int{1, 2}},
		{"then the most recently Ready", 1, []int{1}},
		{"to zero", 0, []int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.GPUs, cfg.GPUsPerReplica = 6, 2
			c := mustNew(t, cfg, 1)
			mustSet(t, c, 0, 2)
			for range 8 {
				mustAdvance(t, c, 0)
			}
			mustSet(t, c, 2*time.Minute, 4)
			mustSet(t, c, 2*time.Minute, tc.to)
			if got := ids(c.Pods()); !slices.Equal(got, tc.want) {
				t.Errorf("pods left %v, want %v", got, tc.want)
			}
			r := mustAdvance(t, c, 0)
			if r.Tick.Pods.GPUs != 2*len(tc.want) {
				t.Errorf("GPUs held %d, want %d", r.Tick.Pods.GPUs, 2*len(tc.want))
			}
		})
	}
}

// TestGPUHoursByHand: 4 GPUs, 2 a pod, 60 s start-up. Pod 1 is Ready from
// the start; at 0 the spec goes to 3 (pod 2 scheduled, pod 3 Pending), at
// `down` back to 1 (pods 3 then 2 deleted); the run lasts three minutes.
func TestGPUHoursByHand(t *testing.T) {
	cases := []struct {
		name         string
		down         time.Duration
		wantGPUHours float64
		wantPending  float64 // pod-minutes
	}{
		// pod 1: 2 GPUs × 180 s; pod 2: 2 GPUs × 120 s.
		{"on a tick boundary", 2 * time.Minute, (2*180 + 2*120) / 3600.0, 2},
		// pod 2 held 125 s, pod 3 Pending 125 s.
		{"mid-tick", 2*time.Minute + 5*time.Second, (2*180 + 2*125) / 3600.0, 125.0 / 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.GPUs, cfg.GPUsPerReplica = 4, 2
			c := mustNew(t, cfg, 1)
			mustSet(t, c, 0, 3)
			var sumGPU, sumPending float64
			for k := range 12 {
				if k == 8 {
					mustSet(t, c, tc.down, 1)
				}
				r := mustAdvance(t, c, 0)
				sumGPU += r.Tick.GPUHours
				sumPending += r.Tick.PendingPodMinutes
			}
			s := c.Summary()
			if !near(s.GPUHours, tc.wantGPUHours, 1e-12) || !near(sumGPU, tc.wantGPUHours, 1e-12) {
				t.Errorf("GPU-hours %v (ticks sum %v), want %v", s.GPUHours, sumGPU, tc.wantGPUHours)
			}
			if !near(s.PendingPodMinutes, tc.wantPending, 1e-12) || !near(sumPending, tc.wantPending, 1e-12) {
				t.Errorf("pending pod-minutes %v (ticks sum %v), want %v", s.PendingPodMinutes, sumPending, tc.wantPending)
			}
			if s.ScaleEvents != 2 || s.Minutes != 3 || s.Duration != 3*time.Minute {
				t.Errorf("scale events %d, minutes %d, duration %v; want 2, 3, 3m", s.ScaleEvents, s.Minutes, s.Duration)
			}
			if got := ids(c.Pods()); !slices.Equal(got, []int{1}) {
				t.Errorf("pods left %v, want [1]", got)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	cases := []struct {
		name      string
		seedA     uint64
		seedB     uint64
		wantEqual bool
	}{
		{"same seed, same run", 11, 11, true},
		{"another seed, another run", 11, 12, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ra, pa := randomRun(t, tc.seedA, 300)
			rb, pb := randomRun(t, tc.seedB, 300)
			if got := reflect.DeepEqual(ra, rb) && reflect.DeepEqual(pa, pb); got != tc.wantEqual {
				t.Errorf("runs equal = %v, want %v", got, tc.wantEqual)
			}
		})
	}
	// The seed alone changes start-ups when everything else is fixed.
	readyTimes := func(seed uint64) []time.Time {
		cfg := validConfig()
		cfg.StartupJitter, cfg.Seed = 30*time.Second, seed
		c := mustNew(t, cfg, 0)
		mustSet(t, c, 0, 8)
		for range 8 {
			mustAdvance(t, c, 0)
		}
		var out []time.Time
		for _, p := range c.Pods() {
			out = append(out, p.ReadySince)
		}
		return out
	}
	if a, b := readyTimes(1), readyTimes(1); !slices.Equal(a, b) {
		t.Errorf("same seed, different Ready times: %v vs %v", a, b)
	}
	if a, b := readyTimes(1), readyTimes(2); slices.Equal(a, b) {
		t.Errorf("seeds 1 and 2 gave the same Ready times %v", a)
	}
}

// TestZeroReplicas: with no Ready pod everything queues and is late once it
// has waited MaxWait; samples are absent; a pod that comes up drains the queue.
func TestZeroReplicas(t *testing.T) {
	cfg := validConfig()
	cfg.Startup = 30 * time.Second
	c := mustNew(t, cfg, 0)
	r := mustAdvance(t, c, 15)
	if r.Tick.Served != 0 || r.Tick.Backlog != 15 || r.Tick.Capacity != 0 || r.Tick.Late != 0 || len(c.Pods()) != 0 {
		t.Fatalf("tick 0 with no pods: %+v", r.Tick)
	}
	// Arrivals over [0, 15 s) pass MaxWait = 15 s during [15 s, 30 s).
	r = mustAdvance(t, c, 15)
	if r.Tick.Backlog != 30 || !near(r.Tick.Late, 15, 1e-12) || !r.Tick.Overloaded() {
		t.Fatalf("tick 1 with no pods: %+v", r.Tick)
	}
	mustSet(t, c, 30*time.Second, 1) // Ready at 60 s, the end of tick 3
	r = mustAdvance(t, c, 0)
	if p := c.Pods()[0]; p.HasSample || p.Phase != PhaseStarting || r.Tick.Served != 0 {
		t.Fatalf("tick 2: pod %+v, served %v; want Starting without a sample", p, r.Tick.Served)
	}
	r = mustAdvance(t, c, 0)
	if p := c.Pods()[0]; !p.HasSample || r.Tick.Served != 0 {
		t.Fatalf("tick 3: pod %+v, served %v; want Ready with a sample, nothing served yet", p, r.Tick.Served)
	}
	if r.Minute == nil || r.Minute.Capacity != 0 || !r.Minute.Overloaded() || r.Minute.Demand != 30 {
		t.Fatalf("first minute %+v: want 30 demand, no capacity, overloaded", r.Minute)
	}
	for _, want := range []float64{15, 0} {
		if r = mustAdvance(t, c, 0); r.Tick.Served != 15 || r.Tick.Backlog != want {
			t.Errorf("draining: served %v backlog %v, want 15 and %v", r.Tick.Served, r.Tick.Backlog, want)
		}
	}
	if s := c.Summary(); !near(s.LatePercent, 100, 1e-12) || s.OverloadedMinutes != 1 {
		t.Errorf("summary %+v: want every request late and one overloaded minute", s)
	}
}

// TestMetrics checks the per-pod samples on hand-worked ticks: 2 Ready pods
// of 1 request/s (30 a tick together), ServiceTime 2 s, one pod Starting.
func TestMetrics(t *testing.T) {
	cases := []struct {
		name        string
		arrivals    float64
		wantDepth   float64
		wantUtil    float64
		serviceTime time.Duration
	}{
		// served 15 (1/s), in service 1/s × 2 s = 2, split over 2 pods.
		{"half load", 15, 1, 0.5, 2 * time.Second},
		// served 30 (2/s → 4 in service), 30 waiting: (30 + 4) / 2; (30 + 30) / 30.
		{"double load", 60, 17, 2, 2 * time.Second},
		{"double load, waiting only", 60, 15, 2, 0},
		{"idle", 0, 0, 0, 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.ServiceTime = tc.serviceTime
			c := mustNew(t, cfg, 2)
			mustSet(t, c, 0, 3)
			mustAdvance(t, c, tc.arrivals)
			for _, p := range c.Pods() {
				if p.Ready() != p.HasSample {
					t.Errorf("pod %d %v: HasSample %v", p.ID, p.Phase, p.HasSample)
				}
				if p.HasSample && (!near(p.QueueDepth, tc.wantDepth, 1e-12) || !near(p.Utilization, tc.wantUtil, 1e-12)) {
					t.Errorf("pod %d: depth %v util %v, want %v %v", p.ID, p.QueueDepth, p.Utilization, tc.wantDepth, tc.wantUtil)
				}
			}
		})
	}
}

// TestOverloadedMinutes: 1 pod of 60 requests a minute; minutes above 60 are
// overloaded whatever the backlog, and late counts follow the queue.
func TestOverloadedMinutes(t *testing.T) {
	cases := []struct {
		name           string
		demand         []float64 // per minute
		wantOverloaded int
		wantLate       float64
	}{
		{"never", []float64{60, 30, 0, 59}, 0, 0},
		// Minute 1 at 120: request at s waits s (as in TestQueueHandWorked);
		// 90 of them wait over 15 s. Minute 2 at 60 then keeps the 60 backlog:
		// every request waits 60 s.
		// Minutes 2 and 3 equal capacity: not overloaded, though every request
		// then waits 60 s behind the spike's backlog. Minute 3's arrivals pass
		// 15 s before the run ends only for the first 45 s of it.
		{"one spike, backlog carried", []float64{60, 120, 60, 60}, 1, 90 + 60 + 45},
		{"spike then recovery", []float64{120, 0, 0}, 1, 90},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, validConfig(), 1)
			var minutes []Interval
			for _, d := range tc.demand {
				for range 4 {
					r := mustAdvance(t, c, d/4)
					if r.Minute != nil {
						minutes = append(minutes, *r.Minute)
					}
				}
			}
			over := 0
			for i, m := range minutes {
				if !m.Start.Equal(t0.Add(time.Duration(i)*time.Minute)) || m.Length != time.Minute || m.Capacity != 60 {
					t.Errorf("minute %d: %+v", i, m)
				}
				if m.Overloaded() {
					over++
				}
			}
			s := c.Summary()
			if over != tc.wantOverloaded || s.OverloadedMinutes != tc.wantOverloaded {
				t.Errorf("overloaded minutes %d (summary %d), want %d", over, s.OverloadedMinutes, tc.wantOverloaded)
			}
			if !near(s.Late, tc.wantLate, 1e-9) {
				t.Errorf("late %v, want %v", s.Late, tc.wantLate)
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	cases := []struct {
		name string
		call func(c *Cluster) error
	}{
		{"negative replicas", func(c *Cluster) error { return c.SetReplicas(c.Now(), -1) }},
		{"replicas before the next tick", func(c *Cluster) error { return c.SetReplicas(c.Now().Add(-time.Second), 1) }},
		{"replicas after the next tick", func(c *Cluster) error { return c.SetReplicas(c.Now().Add(15*time.Second), 1) }},
		{"replicas before an earlier event", func(c *Cluster) error {
			if err := c.SetReplicas(c.Now().Add(5*time.Second), 2); err != nil {
				return nil
			}
			return c.SetReplicas(c.Now().Add(4*time.Second), 1)
		}},
		{"GPUs not a node multiple", func(c *Cluster) error { return c.SetGPUs(c.Now(), 6) }},
		{"negative GPUs", func(c *Cluster) error { return c.SetGPUs(c.Now(), -4) }},
		{"NaN arrivals", func(c *Cluster) error { _, err := c.Advance(nan()); return err }},
		{"negative arrivals", func(c *Cluster) error { _, err := c.Advance(-1); return err }},
		{"infinite arrivals", func(c *Cluster) error { _, err := c.Advance(inf()); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.GPUsPerNode = 4
			c := mustNew(t, cfg, 1)
			mustAdvance(t, c, 1)
			before := c.Summary()
			if err := tc.call(c); err == nil {
				t.Fatal("accepted")
			}
			if after := c.Summary(); after.Demand != before.Demand || after.Duration != before.Duration {
				t.Errorf("state moved on a rejected call: %+v -> %+v", before, after)
			}
		})
	}
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }
