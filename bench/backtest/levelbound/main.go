// Command levelbound computes a lower bound on the GPU-hours of any scaling
// policy that knows the level of demand perfectly but not its minute-to-minute
// noise, at a given number of overloaded minutes.
//
// The level is the centred moving mean of the trace over --window: it uses the
// future, so no forecaster can know it better. Each minute gets
// ⌈(level + headroom) / C⌉ replicas, the headroom one global factor of a
// noise model (proportional to √level, as counts are, or to the level), and
// the smallest factor whose overloaded minutes (demand above the replicas'
// capacity) stay within --overloaded is found by bisection. The replicas
// cost one GPU-minute each per minute; the GPU time of pods starting up is
// left out, so the bound is below what any policy with start-up times pays.
// If it is above a GPU-hour target, no forecast of the level can reach it.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"time"

	"github.com/prescaler/prescaler/trace"
)

func main() {
	path := flag.String("trace", "", "per-minute trace CSV (unix_minute,requests)")
	peak := flag.Float64("peak-replicas", 20, "replicas the trace's peak minute needs at full utilization (sets the replica capacity)")
	warmup := flag.Duration("warmup", 7*24*time.Hour, "history before the evaluated minutes")
	window := flag.Duration("window", 15*time.Minute, "centred window of the known level")
	overloaded := flag.Int("overloaded", 0, "overloaded minutes allowed over the evaluated minutes")
	flag.Parse()
	s, err := trace.ReadFile(*path)
	if err != nil {
		log.Fatal(err)
	}
	if s.StepMinutes != 1 {
		log.Fatalf("trace %s: step %d minutes, want 1", *path, s.StepMinutes)
	}
	from := int(warmup.Minutes())
	if from >= s.Len() {
		log.Fatalf("warmup %s leaves no minute of the %d-minute trace", *warmup, s.Len())
	}
	demand := zeroMissing(s.Values)
	capacity := maxOf(demand) / *peak
	level := centredMean(demand, int(window.Minutes())/2)
	fmt.Printf("replica capacity %.2f req/min, %d evaluated minutes, oracle (no start-up) %.0f GPU-h\n",
		capacity, len(demand)-from, gpuHours(demand[from:], demand[from:], capacity, 0, exact))
	for _, m := range []model{{"sqrt(level)", scaleSqrt}, {"level", scaleLevel}} {
		k := smallestFactor(demand[from:], level[from:], capacity, *overloaded, m.headroom)
		over := overloadedMinutes(demand[from:], level[from:], capacity, k, m.headroom)
		fmt.Printf("noise ∝ %-11s factor %6.3f: %.0f GPU-h, %d overloaded minutes\n",
			m.name, k, gpuHours(demand[from:], level[from:], capacity, k, m.headroom), over)
	}
}

type model struct {
	name     string
	headroom func(level, k float64) float64
}

func scaleSqrt(level, k float64) float64  { return k * math.Sqrt(level) }
func scaleLevel(level, k float64) float64 { return k * level }
func exact(float64, float64) float64      { return 0 }

// replicas is what one minute gets: at least one, enough for level+headroom.
func replicas(level, capacity, k float64, headroom func(float64, float64) float64) float64 {
	return math.Max(1, math.Ceil((level+headroom(level, k))/capacity-1e-9))
}

func gpuHours(demand, level []float64, capacity, k float64, headroom func(float64, float64) float64) float64 {
	sum := 0.0
	for t := range demand {
		sum += replicas(level[t], capacity, k, headroom)
	}
	return sum / 60
}

func overloadedMinutes(demand, level []float64, capacity, k float64, headroom func(float64, float64) float64) int {
	n := 0
	for t, d := range demand {
		if d > replicas(level[t], capacity, k, headroom)*capacity {
			n++
		}
	}
	return n
}

// smallestFactor bisects for the least headroom factor within the allowed
// overloaded minutes (they fall as the factor grows).
func smallestFactor(demand, level []float64, capacity float64, allowed int, headroom func(float64, float64) float64) float64 {
	lo, hi := -1.0, 1.0
	for overloadedMinutes(demand, level, capacity, hi, headroom) > allowed {
		lo, hi = hi, 2*hi
	}
	for range 60 {
		mid := (lo + hi) / 2
		if overloadedMinutes(demand, level, capacity, mid, headroom) <= allowed {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// centredMean is the mean of each minute's ±half neighbours (fewer at the ends).
func centredMean(v []float64, half int) []float64 {
	out := make([]float64, len(v))
	for t := range v {
		lo, hi := max(0, t-half), min(len(v)-1, t+half)
		sum := 0.0
		for _, x := range v[lo : hi+1] {
			sum += x
		}
		out[t] = sum / float64(hi-lo+1)
	}
	return out
}

func zeroMissing(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if !math.IsNaN(x) {
			out[i] = x
		}
	}
	return out
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}
