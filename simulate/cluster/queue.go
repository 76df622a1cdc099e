package cluster

import "math"

// cohort is a run of queued requests whose arrival times are spread uniformly
// over [t0, t1] (seconds since the start of the run). A tick's arrivals enter
// as one cohort; FIFO service removes them from the front, so what is left of
// a cohort is always the tail of its arrivals.
type cohort struct {
	t0, t1 float64
	mass   float64
}

// fifo is the fluid first-in first-out queue shared by all Ready replicas.
type fifo struct {
	cohorts []cohort // oldest first; cohorts[head:] are live
	head    int
	backlog float64 // sum of the live cohorts' mass
}

// queueStep is what one tick did to the queue.
type queueStep struct {
	served float64
	late   float64
}

// run is a stretch of requests served in one tick whose arrival time and wait
// both change linearly with the position in the run: uniform arrivals served
// at a constant rate.
type run struct {
	mass         float64
	arr0, arr1   float64 // arrival time of the first and last request
	wait0, wait1 float64 // their waits
}

// massFraction is the tolerance under which a remaining mass is treated as
// served: it keeps float rounding from leaving specks of queue behind.
const massFraction = 1e-12

// step advances the queue by one tick [t, t+length) (seconds) in which Ready
// replicas can serve capacity requests and arrivals requests arrive, spread
// evenly over the tick. Service runs at the constant rate capacity/length and
// is work-conserving and FIFO. Waits of served requests go into h; a request
// counts as late in the tick during which its wait passes maxWait, whether it
// is served then or still queued.
func (q *fifo) step(t, length, capacity, arrivals, maxWait float64, h *waitHistogram) queueStep {
	var out queueStep
	// Requests that arrived at or before lateFrom have already been counted
	// late if they were still waiting at the end of the last tick; those that
	// arrived in (lateFrom, lateTo] pass maxWait during this tick.
	lateFrom, lateTo := t-maxWait, t+length-maxWait
	record := func(r run) {
		if r.mass <= 0 {
			return
		}
		out.served += r.mass
		h.addUniform(r.wait0, r.wait1, r.mass)
		// Fraction of the run that arrived in (lateFrom, lateTo] and waited
		// longer than maxWait.
		a0, a1 := linearWindow(r.arr0, r.arr1, lateFrom, lateTo)
		w0, w1 := linearWindow(r.wait0, r.wait1, maxWait, math.Inf(1))
		if f := min(a1, w1) - max(a0, w0); f > 0 {
			out.late += f * r.mass
		}
	}

	rate := capacity / length // requests per second while busy
	budget := capacity        // service left in this tick
	server := t               // the time the server is free to take the next request

	// 1. Requests queued before the tick, oldest first.
	for q.head < len(q.cohorts) && budget > 0 {
		c := &q.cohorts[q.head]
		x := min(c.mass, budget)
		if c.mass-x <= massFraction*c.mass {
			x = c.mass
		}
		arrX := c.t0 + (c.t1-c.t0)*x/c.mass // arrival of the last one served
		done := server + x/rate
		record(run{mass: x, arr0: c.t0, arr1: arrX, wait0: server - c.t0, wait1: done - arrX})
		server, budget = done, budget-x
		q.backlog -= x
		if x == c.mass {
			q.head++
		} else {
			c.t0, c.mass = arrX, c.mass-x
		}
	}
	q.compact()

	// 2. This tick's arrivals, at rate a from t. The k-th (k requests before
	// it) arrives at t + k/a. While the server stays busy it is served at
	// server + k/rate. When a < rate the queue empties at k* (server + k*/rate
	// = t + k*/a) and later arrivals are served as they come.
	if arrivals > 0 {
		a := arrivals / length
		served := 0.0
		if budget > 0 {
			kStar := math.Inf(1)
			if a < rate {
				kStar = (server - t) * a * rate / (rate - a)
			}
			busy := min(arrivals, budget, kStar)
			record(run{
				mass: busy,
				arr0: t, arr1: t + busy/a,
				wait0: server - t, wait1: server + busy/rate - (t + busy/a),
			})
			served = busy
			if kStar < arrivals && kStar < budget {
				// Queue empty: the rest is served on arrival. Work conservation
				// guarantees it fits (kStar < budget ⇔ backlog + arrivals < capacity).
				rest := min(arrivals, budget) - kStar
				record(run{mass: rest, arr0: t + kStar/a, arr1: t + (kStar+rest)/a})
				served += rest
			}
			if arrivals-served <= massFraction*arrivals {
				if d := arrivals - served; d > 0 {
					out.served += d
				}
				served = arrivals
			}
		}
		if left := arrivals - served; left > 0 {
			q.cohorts = append(q.cohorts, cohort{t0: t + served/a, t1: t + length, mass: left})
			q.backlog += left
		}
	}
	if q.head == len(q.cohorts) {
		q.backlog = 0
	}

	// 3. Requests still queued at the end of the tick that arrived in
	// (lateFrom, lateTo] have now waited longer than maxWait. Cohorts are in
	// arrival order, so scan back from the newest until they are older.
	for i := len(q.cohorts) - 1; i >= q.head; i-- {
		c := q.cohorts[i]
		if c.t1 <= lateFrom {
			break
		}
		u0, u1 := linearWindow(c.t0, c.t1, lateFrom, lateTo)
		if u1 > u0 {
			out.late += (u1 - u0) * c.mass
		}
	}
	return out
}

// compact drops served cohorts once they make up half the slice.
func (q *fifo) compact() {
	if q.head > 0 && q.head*2 >= len(q.cohorts) {
		n := copy(q.cohorts, q.cohorts[q.head:])
		q.cohorts = q.cohorts[:n]
		q.head = 0
	}
}

// addAges adds the requests still queued at time now to h with their age so
// far, a lower bound on their wait.
func (q *fifo) addAges(now float64, h *waitHistogram) {
	for _, c := range q.cohorts[q.head:] {
		h.addUniform(now-c.t1, now-c.t0, c.mass)
	}
}

// linearWindow returns the part [u0, u1] of [0, 1] where f(u) = f0 + u(f1−f0)
// lies in (lo, hi]; u1 <= u0 when there is none. Endpoints have measure zero,
// so whether they are included does not matter to the callers.
func linearWindow(f0, f1, lo, hi float64) (u0, u1 float64) {
	if f0 == f1 {
		if f0 > lo && f0 <= hi {
			return 0, 1
		}
		return 0, 0
	}
	// Solve f(u) = lo and f(u) = hi, then order by the slope's sign.
	ulo := (lo - f0) / (f1 - f0)
	uhi := (hi - f0) / (f1 - f0)
	if f1 < f0 {
		ulo, uhi = uhi, ulo
	}
	return max(ulo, 0), min(uhi, 1)
}
