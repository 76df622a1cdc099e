package predictor

import (
	"math"
	"slices"
)

// floatSorter sorts float64 slices in O(n) with a least-significant-digit
// radix sort on their IEEE-754 bits, reusing its buffers from one slice to
// the next. The calibration sorts 2·Horizon − 1 arrays as long as the
// training data at every fit (29 arrays of 20,160 errors for 14 days of
// minutes and 15 horizons), where pdqsort's n log n costs more than the fit
// itself. The order is the numeric order, so the quantiles are the same.
type floatSorter struct {
	keys, scratch []uint64
}

// radixMinLength is the length below which slices.Sort is faster than the
// eight counting passes.
const radixMinLength = 512

// sort sorts v (no NaN) in ascending order.
func (s *floatSorter) sort(v []float64) {
	if len(v) < radixMinLength {
		slices.Sort(v)
		return
	}
	s.keys, s.scratch = grow(s.keys, len(v)), grow(s.scratch, len(v))
	keys, scratch := s.keys, s.scratch
	for i, x := range v {
		keys[i] = orderedBits(x)
	}
	for shift := uint(0); shift < 64; shift += 8 {
		if radixPass(keys, scratch, shift) {
			keys, scratch = scratch, keys
		}
	}
	for i, k := range keys {
		v[i] = fromOrderedBits(k)
	}
}

// radixPass distributes keys by their byte at shift into out, stably, and
// reports whether it did: a byte that all keys share (the sign and exponent
// bytes of same-sized errors, typically) needs no pass.
func radixPass(keys, out []uint64, shift uint) bool {
	var count [256]int
	for _, k := range keys {
		count[(k>>shift)&0xff]++
	}
	if count[(keys[0]>>shift)&0xff] == len(keys) {
		return false
	}
	next := 0
	for d, c := range count {
		count[d] = next
		next += c
	}
	for _, k := range keys {
		d := (k >> shift) & 0xff
		out[count[d]] = k
		count[d]++
	}
	return true
}

// orderedBits maps x to a uint64 whose unsigned order is x's numeric order
// (Herf, "Radix tricks", 2001): negative numbers have all their bits
// flipped, the others their sign bit set.
func orderedBits(x float64) uint64 {
	b := math.Float64bits(x)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func fromOrderedBits(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

func grow(buf []uint64, n int) []uint64 {
	if cap(buf) < n {
		return make([]uint64, n)
	}
	return buf[:n]
}
