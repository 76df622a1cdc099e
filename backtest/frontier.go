package backtest

import (
	"math"
	"slices"
)

// FrontierPoint is one run of a policy reduced to its two costs.
type FrontierPoint struct {
	Label             string
	GPUHours          float64
	OverloadedMinutes float64
}

// ParetoFrontier keeps the points no other point beats on both costs, sorted
// by GPU-hours: the best overload each GPU budget can buy.
func ParetoFrontier(points []FrontierPoint) []FrontierPoint {
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b FrontierPoint) int {
		if a.GPUHours != b.GPUHours {
			return cmpFloat(a.GPUHours, b.GPUHours)
		}
		return cmpFloat(a.OverloadedMinutes, b.OverloadedMinutes)
	})
	var out []FrontierPoint
	best := math.Inf(1)
	for _, p := range sorted {
		if p.OverloadedMinutes < best {
			out = append(out, p)
			best = p.OverloadedMinutes
		}
	}
	return out
}

// OverloadAt is the frontier's overload at the given GPU-hours, by linear
// interpolation between its two neighbours. ok is false outside the
// frontier's range, where no interpolation is honest.
func OverloadAt(frontier []FrontierPoint, gpuHours float64) (overload float64, ok bool) {
	if len(frontier) == 0 || gpuHours < frontier[0].GPUHours || gpuHours > frontier[len(frontier)-1].GPUHours {
		return 0, false
	}
	for i := 1; i < len(frontier); i++ {
		a, b := frontier[i-1], frontier[i]
		if gpuHours <= b.GPUHours {
			if b.GPUHours == a.GPUHours {
				return b.OverloadedMinutes, true
			}
			frac := (gpuHours - a.GPUHours) / (b.GPUHours - a.GPUHours)
			return a.OverloadedMinutes + frac*(b.OverloadedMinutes-a.OverloadedMinutes), true
		}
	}
	return frontier[0].OverloadedMinutes, true // a single point
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
