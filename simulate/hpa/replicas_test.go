package hpa

import (
	"testing"
	"time"
)

var (
	missingPod = PodSample{Name: "missing", Ready: true}
	pendingPod = PodSample{Name: "pending", Phase: PodPending}
)

// Pods metric, target averageValue 5 (5000 milli-units), tolerance 0.1
// unless a case says otherwise. Every expectation is worked by hand from
// upstream's calcPlainMetricReplicas.
func TestPodsMetricReplicas(t *testing.T) {
	tests := []struct {
		name        string
		current     int32
		samples     []PodSample
		tol         *tolerances
		want        int32
		wantWithin  bool
		wantUnready int
		wantMissing int
		wantIgnored int
		wantErr     bool
	}{
		{
			// avg 21000/4 = 5250 m; ratio 5250/5000 = 1.05; |0.05| ≤ 0.1 → keep 4.
			name: "ratio 1.05 is within tolerance", current: 4,
			samples: queue(same(4, 5.25)...), want: 4, wantWithin: true,
		},
		{
			// avg 6000 m; ratio 1.2 > 1.1 → ceil(1.2 × 4 = 4.8) = 5.
			name: "ratio 1.2 scales up", current: 4,
			samples: queue(same(4, 6)...), want: 5,
		},
		{
			// ratio 5500/5000 = 1.1 exactly; the band [0.9, 1.1] is closed → keep 4.
			name: "ratio exactly 1.1 holds because the band is closed", current: 4,
			samples: queue(same(4, 5.5)...), want: 4, wantWithin: true,
		},
		{
			// ratio 7000/5000 = 1.4; 1.4 × 3 = 4.2 → ceil → 5.
			name: "ceil rounds any fraction up", current: 3,
			samples: queue(7, 7, 7), want: 5,
		},
		{
			// ratio 4250/5000 = 0.85 < 0.9; 0.85 × 10 = 8.5 → ceil → 9.
			name: "ratio 0.85 scales down", current: 10,
			samples: queue(same(10, 4.25)...), want: 9,
		},
		{
			// ratio 0.85 is outside the band, but 0.85 × 4 = 3.4 → ceil → 4.
			name: "ceil can cancel a small scale-down", current: 4,
			samples: queue(same(4, 4.25)...), want: 4,
		},
		{
			// milli values 5500 + 5500 + 5501 = 16501; 16501/3 = 5500 (integer
			// division, not 5500.33); ratio 1.1 → keep 3. With a float average
			// the ratio would be 1.000067 × 1.1 and give ceil(3.3) = 4.
			name: "average truncates to whole milli-units", current: 3,
			samples: queue(5.5, 5.5, 5.501), want: 3, wantWithin: true,
		},
		{
			// ready ratio 7000/5000 = 1.4 (would be ceil(4.2) = 5); one pod
			// missing → scale-up → it counts 0: 21000/4 = 5250, ratio 1.05 →
			// within tolerance → keep 4.
			name: "missing pod counts 0 on scale-up and can cancel it", current: 4,
			samples: with(queue(7, 7, 7), missingPod), want: 4, wantWithin: true, wantMissing: 1,
		},
		{
			// ready ratio 2.0; missing counts 0: 30000/4 = 7500, ratio 1.5 →
			// ceil(1.5 × 4 pods counted) = 6.
			name: "missing pod counts 0 on scale-up", current: 4,
			samples: with(queue(10, 10, 10), missingPod), want: 6, wantMissing: 1,
		},
		{
			// ready ratio 1000/5000 = 0.2 (would be ceil(0.6) = 1); scale-down →
			// missing counts at the target 5000: (3000 + 5000)/4 = 2000, ratio
			// 0.4 → ceil(0.4 × 4) = ceil(1.6) = 2.
			name: "missing pod counts at the target on scale-down", current: 4,
			samples: with(queue(1, 1, 1), missingPod), want: 2, wantMissing: 1,
		},
		{
			// ready ratio 10500/5000 = 2.1 (would be ceil(4.2) = 5); two Pending
			// pods count 0 on a scale-up: 21000/4 = 5250, ratio 1.05 → keep 4.
			name: "pending pods count 0 on scale-up", current: 4,
			samples: with(queue(10.5, 10.5), pendingPod, pendingPod), want: 4, wantWithin: true, wantUnready: 2,
		},
		{
			// ready ratio 0.2 < 1 → unready pods are not rebalanced, nothing is
			// missing → ceil(0.2 × 2 ready) = 1.
			name: "pending pods are left out on scale-down", current: 4,
			samples: with(queue(1, 1), pendingPod, pendingPod), want: 1, wantUnready: 2,
		},
		{
			// the deleting and the failed pod are dropped: ratio 10000/5000 = 2
			// over 2 ready → ceil(4) = 4.
			name: "deleting and failed pods are ignored", current: 3,
			samples: with(queue(10, 10),
				PodSample{Name: "leaving", Ready: true, Deleting: true, HasValue: true},
				PodSample{Name: "crashed", Phase: PodFailed, HasValue: true}),
			want: 4, wantIgnored: 2,
		},
		{
			// readiness only matters for cpu: the Running, not Ready pod's 0
			// counts: 20000/3 = 6666 m, ratio 1.3332 → ceil(3.9996) = 4.
			name: "a running pod that is not ready counts at face value", current: 3,
			samples: with(queue(10, 10), PodSample{Name: "loading", HasValue: true}), want: 4,
		},
		{
			// ready ratio 4000/5000 = 0.8; missing at target: 17000/4 = 4250,
			// ratio 0.85 → ceil(0.85 × 4) = 4 > current 2 while scaling down →
			// upstream holds 2.
			name: "more pods than replicas cannot turn a scale-down into growth", current: 2,
			samples: with(queue(4, 4, 4), missingPod), want: 2, wantWithin: true, wantMissing: 1,
		},
		{
			// ratio 0.85 is inside a scale-down tolerance of 0.2: [0.8, 1.1] → keep 10.
			name: "a direction's own tolerance widens the band", current: 10,
			samples: queue(same(10, 4.25)...), tol: &tolerances{down: 0.2, up: 0.1}, want: 10, wantWithin: true,
		},
		{
			name: "no pods is an error", current: 2, samples: nil, wantErr: true,
		},
		{
			name: "only pending pods is an error", current: 2,
			samples: []PodSample{pendingPod, pendingPod}, wantErr: true, wantUnready: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := defaultParams(t0, tt.current)
			if tt.tol != nil {
				p.tol = *tt.tol
			}
			got := podsMetricReplicas(PodsMetricSource{Name: queueMetric, TargetAverageValue: 5}, tt.samples, p)
			if (got.Err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", got.Err, tt.wantErr)
			}
			if got.Replicas != tt.want || got.WithinTolerance != tt.wantWithin {
				t.Errorf("replicas = %d (within %v), want %d (within %v); ratio %.4f", got.Replicas, got.WithinTolerance, tt.want, tt.wantWithin, got.UsageRatio)
			}
			if got.Unready != tt.wantUnready || got.Missing != tt.wantMissing || got.Ignored != tt.wantIgnored {
				t.Errorf("unready/missing/ignored = %d/%d/%d, want %d/%d/%d", got.Unready, got.Missing, got.Ignored, tt.wantUnready, tt.wantMissing, tt.wantIgnored)
			}
		})
	}
}

// Resource utilization targets; every pod requests 1 core (1000 m). Worked
// from upstream's GetResourceReplicas and groupPods with the default
// cpu-initialization-period 5m and initial-readiness-delay 30s.
func TestResourceUtilizationReplicas(t *testing.T) {
	now := at(600)
	starting := func(name string, usage float64) PodSample {
		// Started 60 s ago, NotReady since start: still initializing.
		return PodSample{Name: name, StartedAt: at(540), ReadySince: at(540), HasValue: true, Value: usage, Request: 1}
	}
	tests := []struct {
		name        string
		resource    string
		target      int32
		current     int32
		samples     []PodSample
		want        int32
		wantWithin  bool
		wantCurrent float64
		wantUnready int
		wantErr     bool
	}{
		{
			// utilization 3360×100/4000 = 84 %; 84/70 = 1.2 → ceil(1.2 × 4) = 5.
			name: "84 percent against 70 scales up", resource: "cpu", target: 70, current: 4,
			samples: cpuPods(same(4, 0.84)...), want: 5, wantCurrent: 84,
		},
		{
			// 0.7709 cores → 771 m (rounded up); 3084×100/4000 = 77.1 → 77 %;
			// 77/70 = 1.1 → within → keep 4. Untruncated 1.1014 would scale.
			name: "utilization truncates to a whole percent", resource: "cpu", target: 70, current: 4,
			samples: cpuPods(same(4, 0.7709)...), want: 4, wantWithin: true, wantCurrent: 77,
		},
		{
			// ready: 2000×100/2000 = 100 %, 100/50 = 2 → scale-up with 2 pods
			// still initializing → they count 0: 2000×100/4000 = 50 %, ratio 1
			// → keep 4. Counting their 0.9 cores would give 95 % → 8.
			name: "initializing cpu pods count 0 on scale-up", resource: "cpu", target: 50, current: 4,
			samples: with(cpuPods(1, 1), starting("s0", 0.9), starting("s1", 0.9)),
			want:    4, wantWithin: true, wantCurrent: 100, wantUnready: 2,
		},
		{
			// the same pods for memory: no readiness rule → all 4 count:
			// 3800×100/4000 = 95 %, 95/50 = 1.9 → ceil(7.6) = 8.
			name: "memory takes initializing pods at face value", resource: "memory", target: 50, current: 4,
			samples: with(cpuPods(1, 1), starting("s0", 0.9), starting("s1", 0.9)),
			want:    8, wantCurrent: 95,
		},
		{
			// started 60 s ago, Ready since 10 s ago, sampled 5 s ago over a 30 s
			// window: 595 s < 590 s + 30 s → the sample saw pre-ready usage →
			// unready. Ready pods: 100 %/50 = 2 → it counts 0: 2000×100/3000 =
			// 66 % → 1.32 → ceil(3.96) = 4.
			name: "cpu sample taken before a full window of readiness is unready", resource: "cpu", target: 50, current: 3,
			samples: with(cpuPods(1, 1), PodSample{Name: "fresh", Ready: true, StartedAt: at(540), ReadySince: at(590),
				SampledAt: at(595), Window: 30 * time.Second, HasValue: true, Value: 0.9, Request: 1}),
			want: 4, wantCurrent: 100, wantUnready: 1,
		},
		{
			// Ready since 50 s ago: 595 s ≥ 550 s + 30 s → counts:
			// 2900×100/3000 = 96 % → 1.92 → ceil(5.76) = 6.
			name: "cpu sample a full window after readiness counts", resource: "cpu", target: 50, current: 3,
			samples: with(cpuPods(1, 1), PodSample{Name: "warm", Ready: true, StartedAt: at(540), ReadySince: at(550),
				SampledAt: at(595), Window: 30 * time.Second, HasValue: true, Value: 0.9, Request: 1}),
			want: 6, wantCurrent: 96,
		},
		{
			// 600 s after start (past 5 min): "never" went NotReady 10 s after
			// start (< 30 s delay) → never ready → unready; "once" went
			// NotReady at 550 s → was ready before → counts. Ready:
			// 3000×100/3000 = 100 % → 2 → "never" counts 0: 3000×100/4000 = 75 %
			// → 1.5 → ceil(6) = 6. Counting its 0.2 cores would give 80 % → 7.
			name: "after initialization only never-ready cpu pods are left out", resource: "cpu", target: 50, current: 4,
			samples: with(cpuPods(1, 1),
				PodSample{Name: "never", StartedAt: at(0), ReadySince: at(10), HasValue: true, Value: 0.2, Request: 1},
				PodSample{Name: "once", StartedAt: at(0), ReadySince: at(550), HasValue: true, Value: 1, Request: 1}),
			want: 6, wantCurrent: 100, wantUnready: 1,
		},
		{
			// 600×100/3000 = 20 %, 20/70 = 0.2857 → scale-down → the missing pod
			// counts 100 % of its request: 1600×100/4000 = 40 %, 40/70 = 0.5714
			// → ceil(2.2857) = 3. Ignoring it would give ceil(0.857) = 1.
			name: "missing cpu pod counts its full request on scale-down", resource: "cpu", target: 70, current: 4,
			samples: with(cpuPods(0.2, 0.2, 0.2), PodSample{Name: "m", Ready: true, Request: 1}), want: 3, wantCurrent: 20,
		},
		{
			// 900×100/3000 = 30 %, 30/150 = 0.2 → the missing pod counts the
			// 150 % target: 1000×150/100 = 1500 m → 2400×100/4000 = 60 % →
			// 0.4 → ceil(1.6) = 2.
			name: "missing pod counts the target when it is above 100 percent", resource: "cpu", target: 150, current: 4,
			samples: with(cpuPods(0.3, 0.3, 0.3), PodSample{Name: "m", Ready: true, Request: 1}), want: 2, wantCurrent: 30,
		},
		{
			// 100 %/50 = 2 → the missing pod counts 0: 3000×100/4000 = 75 % → 1.5
			// → ceil(6) = 6.
			name: "missing cpu pod counts 0 on scale-up", resource: "cpu", target: 50, current: 4,
			samples: with(cpuPods(1, 1, 1), PodSample{Name: "m", Ready: true, Request: 1}), want: 6, wantCurrent: 100,
		},
		{
			name: "a pod without a request is an error", resource: "cpu", target: 70, current: 2,
			samples: with(cpuPods(0.5), PodSample{Name: "norequest", Ready: true, HasValue: true, Value: 0.5}), wantErr: true,
		},
		{
			name: "only initializing cpu pods is an error", resource: "cpu", target: 70, current: 2,
			samples: []PodSample{starting("s0", 0.5), starting("s1", 0.5)}, wantErr: true, wantUnready: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resourceUtilizationReplicas(ResourceMetricSource{Name: tt.resource, TargetAverageUtilization: tt.target}, tt.samples, defaultParams(now, tt.current))
			if (got.Err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", got.Err, tt.wantErr)
			}
			if got.Replicas != tt.want || got.WithinTolerance != tt.wantWithin {
				t.Errorf("replicas = %d (within %v), want %d (within %v); ratio %.4f", got.Replicas, got.WithinTolerance, tt.want, tt.wantWithin, got.UsageRatio)
			}
			if got.Current != tt.wantCurrent {
				t.Errorf("utilization = %v %%, want %v %%", got.Current, tt.wantCurrent)
			}
			if got.Unready != tt.wantUnready {
				t.Errorf("unready = %d, want %d", got.Unready, tt.wantUnready)
			}
		})
	}
}

func TestMilli(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want int64
	}{
		{name: "exact value", in: 5, want: 5000},
		{name: "float noise snaps to the exact milli", in: 0.1, want: 100},
		{name: "fraction of a milli rounds up like MilliValue", in: 0.1234567, want: 124},
		{name: "zero", in: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := milli(tt.in); got != tt.want {
				t.Errorf("milli(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
