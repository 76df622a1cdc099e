package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Duration is a time.Duration that also accepts days and weeks ("7d", "1w",
// "1d12h"), since seasons and history windows are naturally written that way.
// It marshals back in the same style.
type Duration time.Duration

// ParseDuration parses Prometheus' duration syntax (model.ParseDuration:
// whole numbers of w, d, h, m, s and ms, largest unit first: "1w2d",
// "1d12h", "90s") and Go's (time.ParseDuration: fractions, a sign, µs and
// ns: "1.5m", "-1h", "250us"), and Go's after whole weeks and days
// ("1d1.5s", which FormatDuration prints). Weeks and days are whole and come
// first: "1.5d" and "12h1d" are errors, and so is "-1d". A bare number is an
// error except "0". A duration beyond time.Duration's range (about 292
// years) is an error wrapping ErrDurationRange, never a wrapped-around value.
//
// Prometheus' "y" (365 days) is refused: a year is not a fixed length, and
// no window prescaler reads is that long.
func ParseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	switch {
	case text == "":
		return 0, errors.New("empty duration")
	case strings.Contains(text, "y"):
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d, err := model.ParseDuration(text)
	if err == nil {
		return time.Duration(d), nil
	}
	if outOfRange(err) {
		return 0, rangeError(s)
	}
	// Go's syntax, after the whole weeks and days if any: no unit of Go's
	// has a "w" or a "d" in it.
	cut := strings.LastIndexAny(text, "wd") + 1
	var days model.Duration
	if cut > 0 {
		if days, err = model.ParseDuration(text[:cut]); err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
	}
	rest, err := time.ParseDuration(text[cut:])
	if err != nil || cut > 0 && rest < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if rest > MaxDuration-time.Duration(days) {
		return 0, rangeError(s)
	}
	return time.Duration(days) + rest, nil
}

// outOfRange reports model.ParseDuration's error for a well-formed duration
// beyond time.Duration's range: it has no error value of its own to match.
func outOfRange(err error) bool {
	return strings.HasSuffix(err.Error(), "out of range")
}

// ErrDurationRange is wrapped by the error for a duration beyond
// time.Duration's range.
var ErrDurationRange = errors.New("out of range")

// MaxDuration is the longest duration a Duration holds.
const MaxDuration = time.Duration(math.MaxInt64)

func rangeError(s string) error {
	return fmt.Errorf("duration %q is %w: the longest is %s", s, ErrDurationRange, FormatDuration(MaxDuration.Truncate(time.Second)))
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
