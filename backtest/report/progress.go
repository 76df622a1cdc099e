package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress counts simulated minutes from any number of goroutines and, when
// live, redraws a one-line bar at most ten times a second. Add is the only
// method the simulation calls; all drawing happens on one goroutine, so the
// output is never interleaved.
type Progress struct {
	out   io.Writer
	total int64
	done  atomic.Int64
	now   func() time.Time
	start time.Time

	stop     chan struct{}
	finished sync.WaitGroup
	drawn    bool // a bar is on screen (drawing goroutine and Finish only)
}

// redrawEvery bounds how often the bar is redrawn.
const redrawEvery = 100 * time.Millisecond

// NewProgress starts counting towards total. With live set (out is a
// terminal) a bar is drawn on out until Finish; otherwise nothing is ever
// written. now is the clock (time.Now outside tests).
func NewProgress(out io.Writer, total int, live bool, now func() time.Time) *Progress {
	p := &Progress{out: out, total: int64(total), now: now, start: now(), stop: make(chan struct{})}
	if live {
		p.finished.Add(1)
		go p.loop()
	}
	return p
}

// Add records n more simulated minutes. It is safe for concurrent use.
func (p *Progress) Add(n int) { p.done.Add(int64(n)) }

// Done is the number of minutes recorded so far.
func (p *Progress) Done() int { return int(p.done.Load()) }

// Finish stops the bar, erases it, and returns the time since NewProgress.
func (p *Progress) Finish() time.Duration {
	close(p.stop)
	p.finished.Wait()
	if p.drawn {
		fmt.Fprint(p.out, "\r\033[K")
	}
	return p.now().Sub(p.start)
}

func (p *Progress) loop() {
	defer p.finished.Done()
	tick := time.NewTicker(redrawEvery)
	defer tick.Stop()
	last := int64(-1)
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			if d := p.done.Load(); d != last {
				last = d
				fmt.Fprint(p.out, "\r"+Bar(d, p.total, p.now().Sub(p.start))+"\033[K")
				p.drawn = true
			}
		}
	}
}

// Bar renders the progress line: a 30-cell bar, the percentage, the minutes
// and, once there is a rate to go by, the time left.
func Bar(done, total int64, elapsed time.Duration) string {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	cells := int(frac * width)
	left := ""
	if done > 0 && done < total && elapsed > 0 {
		remaining := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		left = fmt.Sprintf("  %s left", remaining.Round(time.Second))
	}
	return fmt.Sprintf("simulating [%s%s] %3.0f%%  %d/%d minutes%s",
		strings.Repeat("#", cells), strings.Repeat(".", width-cells), 100*frac, done, total, left)
}
