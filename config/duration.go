package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that also accepts days and weeks ("7d", "1w",
// "1d12h"), since seasons and history windows are naturally written that way.
// It marshals back in the same style.
type Duration time.Duration

// ParseDuration parses Go duration syntax extended with the units "d" (24h) and
// "w" (168h). The leading day/week part must come first: "1d12h" is valid,
// "12h1d" is not. A duration beyond time.Duration's range (about 292 years)
// is an error wrapping ErrDurationRange, never a wrapped-around value.
//
// prometheus/common/model.ParseDuration also checks the range and knows d
// and w, but it takes whole numbers only and no sign, so "1.5d", "1.5h"
// and "-1h" (which the validation reports as not positive) would stop
// parsing; this parser keeps Go's syntax and adds the checks.
func ParseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := text
	for _, unit := range []struct {
		suffix string
		size   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, unit.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n < 0 || math.IsInf(n, 0) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		part, ok := scaleDuration(n, unit.size)
		if total, ok = addDurations(total, part, ok); !ok {
			return 0, rangeError(s)
		}
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			if goDurationSyntax.MatchString(rest) {
				// Well formed but too long: time.ParseDuration calls that
				// invalid too.
				return 0, rangeError(s)
			}
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if d < 0 && total > 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		var ok bool
		if total, ok = addDurations(total, d, true); !ok {
			return 0, rangeError(s)
		}
	}
	return total, nil
}

// ErrDurationRange is wrapped by the error for a duration beyond
// time.Duration's range.
var ErrDurationRange = errors.New("out of range")

// MaxDuration is the longest duration a Duration holds.
const MaxDuration = time.Duration(math.MaxInt64)

func rangeError(s string) error {
	return fmt.Errorf("duration %q is %w: the longest is %s", s, ErrDurationRange, FormatDuration(MaxDuration.Truncate(time.Second)))
}

// scaleDuration is n units, and whether it fits in a time.Duration.
func scaleDuration(n float64, unit time.Duration) (time.Duration, bool) {
	v := n * float64(unit)
	// float64(math.MaxInt64) rounds up to 2⁶³, itself out of range.
	if v >= float64(math.MaxInt64) {
		return 0, false
	}
	return time.Duration(v), true
}

// addDurations is a + b when both are in range (ok) and the sum fits.
func addDurations(a, b time.Duration, ok bool) (time.Duration, bool) {
	if !ok || b > 0 && a > MaxDuration-b || b < 0 && a < math.MinInt64-b {
		return 0, false
	}
	return a + b, true
}

// goDurationSyntax is the syntax time.ParseDuration accepts (besides "0").
var goDurationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// FormatDuration writes d with the largest whole units, days included: 24h
// prints as "1d", 36h as "1d12h", 90s as "1m30s".
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%(24*time.Hour) != 0 && d < 24*time.Hour {
		return trimZeroUnits(d.String())
	}
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	if rest == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + trimZeroUnits(rest.String())
}

// trimZeroUnits turns time.Duration's "1h0m0s" into "1h" and "5m0s" into "5m".
func trimZeroUnits(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// String implements fmt.Stringer.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
