package config

import (
	"fmt"
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
// "12h1d" is not.
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
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += time.Duration(n * float64(unit.size))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if d < 0 && total > 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += d
	}
	return total, nil
}

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
