package cluster

import "math"

// Wait histogram layout: an exact-zero mass, one linear bucket [0, 1 ms), then
// log-linear buckets, 16 per doubling (each 4.4 % wider than the last), up to
// 2⁴⁰ ms ≈ 35 years; longer waits fall into the last bucket.
const (
	histFirst      = 1e-3 // seconds: the upper edge of bucket 0
	histPerDouble  = 16
	histDoublings  = 40
	histNumBuckets = 1 + histPerDouble*histDoublings
	histRatio      = 1.0442737824274138 // 2^(1/16): one bucket's upper edge over its lower
)

// waitHistogram is a weighted histogram of queue waits in seconds. Request
// counts are fluid, so weights are real numbers. Mass is added either as a
// point or spread uniformly over an interval of waits. Each bucket also keeps
// the range of waits added to it, and quantiles interpolate linearly over that
// range: exact when one uniform run (or one point) fills the bucket's mass,
// and never off by more than the bucket's width (4.4 %) otherwise.
type waitHistogram struct {
	zero    float64 // requests served without waiting
	buckets [histNumBuckets]float64
	seen    [histNumBuckets][2]float64 // smallest and largest wait added to each bucket
	total   float64
}

// put adds mass m spread over waits [lo, hi] inside bucket i.
func (h *waitHistogram) put(i int, lo, hi, m float64) {
	if h.buckets[i] == 0 {
		h.seen[i] = [2]float64{lo, hi}
	} else {
		h.seen[i] = [2]float64{min(h.seen[i][0], lo), max(h.seen[i][1], hi)}
	}
	h.buckets[i] += m
}

// bucketLow is the lower edge of bucket i.
func bucketLow(i int) float64 {
	if i == 0 {
		return 0
	}
	return histFirst * math.Exp2(float64(i-1)/histPerDouble)
}

// bucketOf returns the bucket holding wait w > 0.
func bucketOf(w float64) int {
	if w < histFirst {
		return 0
	}
	i := 1 + int(math.Floor(histPerDouble*math.Log2(w/histFirst)))
	return min(max(i, 1), histNumBuckets-1)
}

// addPoint adds mass m at wait w.
func (h *waitHistogram) addPoint(w, m float64) {
	if m <= 0 {
		return
	}
	h.total += m
	if w <= 0 {
		h.zero += m
		return
	}
	h.put(bucketOf(w), w, w, m)
}

// addUniform adds mass m spread uniformly over waits [lo, hi].
func (h *waitHistogram) addUniform(lo, hi, m float64) {
	if m <= 0 {
		return
	}
	lo, hi = max(lo, 0), max(hi, 0)
	if hi < lo {
		lo, hi = hi, lo
	}
	width := hi - lo
	if width <= 1e-12*max(hi, 1) {
		h.addPoint(lo, m)
		return
	}
	h.total += m
	last := bucketOf(hi)
	added := 0.0
	first := bucketOf(max(lo, math.SmallestNonzeroFloat64))
	// Walk the bucket edges by multiplying, not one Exp2 per bucket: a run
	// can span hundreds of buckets. The drift is far below the sliver
	// correction below.
	bottom := bucketLow(first)
	for i := first; i <= last; i++ {
		top := histFirst
		switch {
		case i == histNumBuckets-1:
			top = math.Inf(1)
		case i > 0:
			top = bottom * histRatio
		}
		from, to := max(lo, bottom), min(hi, top)
		if to > from {
			part := m * (to - from) / width
			h.put(i, from, to, part)
			added += part
		}
		bottom = top
	}
	// Rounding at bucket edges can leave a sliver unassigned; keep the total exact.
	if rest := m - added; rest != 0 {
		h.put(last, hi, hi, rest)
	}
}

// quantile returns the wait below which a fraction q of the mass lies,
// interpolating linearly inside the bucket that holds it. 0 when empty.
func (h *waitHistogram) quantile(q float64) float64 {
	if h.total <= 0 {
		return 0
	}
	target := q * h.total
	if target <= h.zero {
		return 0
	}
	cum := h.zero
	for i, m := range h.buckets {
		if m <= 0 {
			continue
		}
		if cum+m >= target {
			f := (target - cum) / m
			return h.seen[i][0] + f*(h.seen[i][1]-h.seen[i][0])
		}
		cum += m
	}
	// Only reachable through rounding with q = 1: the largest wait seen.
	for i := histNumBuckets - 1; i >= 0; i-- {
		if h.buckets[i] > 0 {
			return h.seen[i][1]
		}
	}
	return 0
}
