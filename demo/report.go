package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prescaler/prescaler/demo/loadgen"
)

// sample is one line of the live table.
type sample struct {
	minute  float64 // trace position
	demand  float64 // requests per trace minute
	dec     decision
	floor   int32 // the HPA's spec.minReplicas
	desired int32
	current int32
	pods    podCounts
	backlog float64
	p95     float64 // trace seconds over the last refresh; NaN when nothing was served
}

const tableHeader = "trace time   demand  forecast  q90 peak  floor  HPA want/has  ready start pending   queue      p95  reason"

// line formats a sample under tableHeader.
func (s sample) line(clock traceClock) string {
	return fmt.Sprintf("%-10s %8.0f  %8s  %8s  %5d  %6d/%-5d  %5d %5d %7d  %6.0f  %7s  %s",
		clock.label(s.minute), s.demand, orDash(s.dec.next), orDash(s.dec.peak), s.floor, s.desired, s.current,
		s.pods.Ready, s.pods.Starting, s.pods.Unschedulable, s.backlog, latency(s.p95), reasonOf(s.dec))
}

func orDash(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func reasonOf(d decision) string {
	if !d.ok {
		return "-"
	}
	return d.reason
}

// latency formats trace seconds.
func latency(s float64) string {
	switch {
	case math.IsNaN(s):
		return "-"
	case math.IsInf(s, 1):
		return "inf"
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	}
	return (time.Duration(s) * time.Second).String()
}

// traceClock labels trace positions with the trace's weekday and time (UTC).
type traceClock struct{ startMinute int64 }

func (c traceClock) label(m float64) string {
	t := time.Unix((c.startMinute+int64(math.Floor(m)))*60, 0).UTC()
	return t.Format("Mon 15:04")
}

// Summary is what a run did, for the closing report and the smoke test.
type Summary struct {
	// StartMinute and EndMinute bound the live run in the trace; Real is its
	// real duration.
	StartMinute, EndMinute float64
	Real                   time.Duration
	Arrived, Served        float64
	Backlog                float64 // still waiting at the end
	// OverloadedMinutes is the trace time a new request would have waited
	// longer than the SLO.
	OverloadedMinutes float64
	MaxBacklog        float64
	MaxBacklogAt      float64 // trace position
	// GPUPodSeconds is real seconds of pods holding a GPU (starting or Ready).
	GPUPodSeconds float64
	// Raises counts increases of the HPA's minReplicas; RaisesAhead those
	// made while the Ready replicas still covered demand (ahead of the load).
	Raises, RaisesAhead int
	MaxFloor            int32
	// Followed is true once the HPA ran at least a floor above 1.
	Followed         bool
	MaxReplicas      int32
	MaxUnschedulable int
	Latency          loadgen.Histogram
}

// tick accounts one generator step of dt real time and dm trace minutes.
func (s *Summary) tick(dt time.Duration, dm float64, c podCounts, snap loadgen.Snapshot, slo time.Duration) {
	s.GPUPodSeconds += float64(c.Scheduled()) * dt.Seconds()
	if snap.Wait > slo.Seconds() {
		s.OverloadedMinutes += dm
	}
	if snap.Backlog > s.MaxBacklog {
		s.MaxBacklog, s.MaxBacklogAt = snap.Backlog, snap.Minute
	}
	s.MaxUnschedulable = max(s.MaxUnschedulable, c.Unschedulable)
}

// observe accounts a table line after the line before.
func (s *Summary) observe(cur sample, prev *sample, capacity float64) {
	if cur.floor > prev.floor {
		s.Raises++
		if float64(prev.pods.Ready)*capacity >= cur.demand {
			s.RaisesAhead++
		}
	}
	s.MaxFloor = max(s.MaxFloor, cur.floor)
	s.MaxReplicas = max(s.MaxReplicas, cur.current)
	if cur.floor > 1 && cur.current >= cur.floor {
		s.Followed = true
	}
}

// print writes the closing report.
func (s Summary) print(w io.Writer, clock traceClock, o Options, gpus int) {
	days := (s.EndMinute - s.StartMinute) / minutesPerDay
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("Summary: %s → %s, %.2f compressed days in %s", clock.label(s.StartMinute), clock.label(s.EndMinute), days, s.Real.Round(time.Second))
	p("  requests           %.0f arrived, %.0f served, %.0f still queued", s.Arrived, s.Served, s.Backlog)
	p("  overloaded         %.0f trace minutes (%.1f %%): new requests waited over %s", s.OverloadedMinutes,
		100*s.OverloadedMinutes/math.Max(s.EndMinute-s.StartMinute, 1e-9), o.SLO)
	p("  max queue          %.0f requests (%s)", s.MaxBacklog, clock.label(s.MaxBacklogAt))
	p("  p95 latency        %s (trace time, whole run)", latency(s.Latency.Quantile(0.95)))
	p("  GPU pod time       %.0f pod-seconds = %.1f GPU-hours of trace time", s.GPUPodSeconds,
		s.GPUPodSeconds/o.Speed.Seconds()/60)
	if o.Prescaler {
		p("  floor raises       %d, %d of them ahead of the load (Ready replicas still covered demand); highest floor %d",
			s.Raises, s.RaisesAhead, s.MaxFloor)
	} else {
		p("  floor raises       none: prescaler was off (--prescaler=false)")
	}
	p("  replicas           at most %d; Pending (no free GPU of %d) at most %d", s.MaxReplicas, gpus, s.MaxUnschedulable)
}
