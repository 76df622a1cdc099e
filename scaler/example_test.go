package scaler_test

import (
	"fmt"
	"time"

	"github.com/prescaler/prescaler/scaler"
)

// The worked example of docs/how-it-decides.md: 1-minute steps, pods that
// take 3 minutes to start, a 5-minute scale-down guard, 50 requests per
// minute per replica, the user's minReplicas 2, maxReplicas 20, 8 GPUs free
// for this Deployment. Three moments of one morning ramp and its tail.
func ExampleDecide() {
	base := scaler.Inputs{
		StepLength: time.Minute, Lead: 3 * time.Minute, Guard: 5 * time.Minute,
		ReplicaCapacity: 50, UserMinReplicas: 2, MaxReplicas: 20, MaxStepDownPercent: 20,
		CapacityReplicas: 8, DataOK: true,
	}
	moments := []struct {
		name          string
		floor, pods   int32
		upperQuantile []scaler.PerMinute // the 0.9 quantile of demand, next 9 minutes
	}{
		{"07:55 ramp ahead", 2, 3, []scaler.PerMinute{140, 170, 230, 260, 280, 300, 310, 320, 320}},
		{"08:10 peak beyond the GPUs", 6, 6, []scaler.PerMinute{380, 420, 460, 470, 450, 430, 400, 380, 360}},
		{"09:30 demand falling", 8, 8, []scaler.PerMinute{210, 190, 170, 160, 150, 150, 140, 130, 120}},
	}
	for _, m := range moments {
		in := base
		in.CurrentFloor, in.CurrentReplicas = m.floor, m.pods
		for _, q := range m.upperQuantile {
			in.Forecast = append(in.Forecast, scaler.Step{Mean: q * 0.85, Upper: q})
		}
		d := scaler.Decide(in)
		fmt.Printf("%s: floor %d → %d (%s), needed %d\n  %s\n  behavior %s\n", m.name, m.floor, d.Floor, d.Reason, d.Needed, d.Message, d.Behavior)
	}
	// Output:
	// 07:55 ramp ahead: floor 2 → 6 (forecast), needed 6
	//   forecast 260 req/min over the next 3m0s needs 6 replicas of 50 req/min
	//   behavior up{stabilization=0s select=Max 100%/15s 4pods/15s} down{stabilization=300s}
	// 08:10 peak beyond the GPUs: floor 6 → 8 (gpu_capacity), needed 10
	//   free GPUs can run 8 replicas, the forecast asks for 10
	//   behavior up{stabilization=0s select=Max 100%/15s 4pods/15s} down{stabilization=300s}
	// 09:30 demand falling: floor 8 → 7 (scale_down_guard), needed 5
	//   floor lowered by at most 20% (1) per decision
	//   behavior unset
}
