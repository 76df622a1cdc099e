package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// autoText is the spelling of "learn it at run time" for LeadTime and
// ReplicaCapacity.
const autoText = "auto"

// Mode says whether a target's floors are written or only computed.
type Mode string

const (
	// ModeActive writes the floor to the HPA or ScaledObject.
	ModeActive Mode = "active"
	// ModeShadow computes, logs and exports the floor but writes nothing, so a
	// forecast can be judged against real traffic before it is trusted.
	ModeShadow Mode = "shadow"
)

// modes are the declared modes, in the order docs list them.
var modes = []Mode{ModeActive, ModeShadow}

// valid reports whether m is one of the declared modes.
func (m Mode) valid() bool { return slices.Contains(modes, m) }

// LeadTime is how far ahead of predicted demand a floor is raised: either
// Auto (the observed p90 pod start-up time) or a fixed Duration.
type LeadTime struct {
	Auto     bool
	Duration time.Duration
}

// String returns "auto" or the duration in config syntax ("3m", "1d").
func (l LeadTime) String() string {
	if l.Auto {
		return autoText
	}
	return FormatDuration(l.Duration)
}

// MarshalText implements encoding.TextMarshaler.
func (l LeadTime) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "auto" or a duration.
func (l *LeadTime) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	if strings.EqualFold(text, autoText) {
		*l = LeadTime{Auto: true}
		return nil
	}
	d, err := ParseDuration(text)
	if err != nil {
		return fmt.Errorf("%q is neither %q nor a duration", text, autoText)
	}
	*l = LeadTime{Duration: d}
	return nil
}

// ReplicaCapacity is the demand one Ready replica serves at its SLO, in the
// unit of the target's demand query (requests per minute in the example):
// either Auto (learned from observed demand, latency and GPU utilization) or a
// fixed Value.
type ReplicaCapacity struct {
	Auto  bool
	Value float64
}

// String returns "auto" or the number.
func (r ReplicaCapacity) String() string {
	if r.Auto {
		return autoText
	}
	return strconv.FormatFloat(r.Value, 'g', -1, 64)
}

// MarshalText implements encoding.TextMarshaler.
func (r ReplicaCapacity) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "auto" or a number.
func (r *ReplicaCapacity) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	if strings.EqualFold(text, autoText) {
		*r = ReplicaCapacity{Auto: true}
		return nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return fmt.Errorf("%q is neither %q nor a number", text, autoText)
	}
	*r = ReplicaCapacity{Value: v}
	return nil
}
