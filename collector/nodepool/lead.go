package nodepool

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prescaler/prescaler/collector/startup"
)

// MinSamples is how many node start-ups an estimate needs: with fewer, the
// 90th percentile is one node's luck.
const MinSamples = 3

// ErrTooFewSamples: fewer than MinSamples nodes became Ready in the window;
// the daemon keeps its configured node lead time.
var ErrTooFewSamples = errors.New("nodepool: too few nodes became Ready in the window")

// Estimate summarises node start-ups (P50, P90, and how many samples).
type Estimate = startup.Estimate

// Sample is one node's start-up: a NodeClaim created then Ready (launch,
// registration, initialization), or, without Karpenter, a Node created
// then Ready.
type Sample struct {
	// Pool is the NodePool (label karpenter.sh/nodepool); empty for a node
	// no NodePool made.
	Pool    string
	Created time.Time
	Ready   time.Time
}

// Duration is the sample's start-up time.
func (s Sample) Duration() time.Duration { return s.Ready.Sub(s.Created) }

// SelectLeads returns the start-up times of the samples of pools (all
// samples when pools is empty) that became Ready in (since, until]. Samples
// whose Ready precedes their creation (clock skew) are dropped.
func SelectLeads(samples []Sample, pools []string, since, until time.Time) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if len(pools) > 0 && !slices.Contains(pools, s.Pool) {
			continue
		}
		if !s.Ready.After(since) || s.Ready.After(until) || s.Ready.Before(s.Created) {
			continue
		}
		out = append(out, s.Duration())
	}
	return out
}

// LeadP90 estimates the node lead time from the samples of pools that
// became Ready in (since, until]: the median and the 90th percentile
// (startup.Quantile's interpolation). It needs MinSamples samples, and
// returns an error wrapping ErrTooFewSamples with fewer.
func LeadP90(samples []Sample, pools []string, since, until time.Time) (Estimate, error) {
	d := SelectLeads(samples, pools, since, until)
	if len(d) < MinSamples {
		return Estimate{}, fmt.Errorf("%w: %d of the %d needed", ErrTooFewSamples, len(d), MinSamples)
	}
	return startup.Summarize(d)
}
