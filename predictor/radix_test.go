package predictor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The radix sort must give exactly slices.Sort's order: the calibration's
// quantiles, and so the golden files, depend on it.
func TestFloatSorterMatchesSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64,
		-math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 1, -1}
	cases := []struct {
		name string
		n    int
		draw func() float64
	}{
		{"short, below the radix threshold", 100, rng.NormFloat64},
		{"standard normal", 5000, rng.NormFloat64},
		{"heavy tails", 5000, func() float64 { return rng.NormFloat64() / (rng.Float64() + 1e-9) }},
		{"few distinct values", 3000, func() float64 { return float64(rng.IntN(5) - 2) }},
		{"all equal", 2000, func() float64 { return 3.5 }},
		{"special values", 2000, func() float64 { return special[rng.IntN(len(special))] }},
	}
	var sorter floatSorter
	for _, c := range cases {
		v := make([]float64, c.n)
		for i := range v {
			v[i] = c.draw()
		}
		want := slices.Clone(v)
		slices.Sort(want)
		sorter.sort(v)
		for i := range v {
			// ±0 compare equal, so slices.Sort may order them either way.
			if v[i] != want[i] || (v[i] == 0 && i > 0 && math.Signbit(v[i]) && !math.Signbit(v[i-1])) {
				t.Errorf("%s: position %d holds %v, want %v", c.name, i, v[i], want[i])
				break
			}
		}
	}
}
