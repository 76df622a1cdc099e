package loadgen

// cohort is requests that arrived together, at trace minute at.
type cohort struct {
	at, mass float64
}

// fifo is the fluid first-in first-out queue all Ready replicas share.
type fifo struct {
	cohorts []cohort // oldest first
	backlog float64  // sum of the cohorts' mass
}

// massEpsilon is the relative remainder treated as served, so float rounding
// leaves no specks of queue behind.
const massEpsilon = 1e-12

// push queues mass requests that arrived at minute at.
func (q *fifo) push(at, mass float64) {
	q.cohorts = append(q.cohorts, cohort{at: at, mass: mass})
	q.backlog += mass
}

// serve takes up to budget requests from the front, each leaving at minute
// now, reports each run's wait to observe and returns how many were served.
func (q *fifo) serve(now, budget float64, observe func(waitMinutes, mass float64)) float64 {
	served, n := 0.0, 0
	for n < len(q.cohorts) && budget-served > 0 {
		c := &q.cohorts[n]
		x := min(c.mass, budget-served)
		if c.mass-x <= massEpsilon*c.mass {
			x = c.mass
		}
		observe(now-c.at, x)
		served += x
		if c.mass -= x; c.mass > 0 {
			break
		}
		n++
	}
	q.cohorts = q.cohorts[n:]
	q.backlog -= served
	if len(q.cohorts) == 0 {
		q.backlog = 0 // no rounding residue once empty
	}
	return served
}
