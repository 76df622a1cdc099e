package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"days", "7d", 7 * day},
		{"week", "1w", 7 * day},
		{"days then hours", "1d12h", 36 * time.Hour},
		{"weeks then days", "1w2d", 9 * day},
		{"two weeks", "2w", 14 * day},
		{"fractional minutes", "1.5m", 90 * time.Second},
		{"days then a fraction of a second", "1d1.5s", day + 1500*time.Millisecond},
		{"days then microseconds", "1d250us", day + 250*time.Microsecond},
		{"go seconds", "90s", 90 * time.Second},
		{"go milliseconds", "500ms", 500 * time.Millisecond},
		{"go compound", "1h30m", 90 * time.Minute},
		{"zero", "0", 0},
		{"zero days", "0d", 0},
		{"surrounding spaces", " 2d ", 2 * day},
		{"negative go duration", "-1h", -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDurationRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"negative days", "-1d"},
		{"letters", "abc"},
		{"no unit", "10"},
		{"day after hours", "12h1d"},
		{"week after day", "2d1w"},
		{"negative rest after days", "1d-1h"},
		{"unknown unit", "3y"},
		{"years, which prometheus knows", "1y2d"},
		{"fractional day", "1.5d"},
		{"exponent", "1e300d"},
		{"nanoseconds beyond the range", "9223372036854775808ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			if strings.TrimSpace(tt.in) != "" && !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
				t.Errorf("ParseDuration(%q) error %q does not name the value", tt.in, err)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{90 * time.Second, "1m30s"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{day, "1d"},
		{36 * time.Hour, "1d12h"},
		{25 * time.Hour, "1d1h"},
		{7 * day, "7d"},
		{14 * day, "14d"},
		{day + 90*time.Second, "1d1m30s"},
		{500 * time.Millisecond, "500ms"},
		{-time.Hour, "-1h"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatDuration(tt.in); got != tt.want {
				t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{
		0, time.Nanosecond, 1500 * time.Millisecond, 90 * time.Second, 7 * time.Minute,
		23*time.Hour + 59*time.Minute, day, 36 * time.Hour, 7 * day, 14*day + 3*time.Hour + 2*time.Second,
		-90 * time.Minute,
	} {
		text := FormatDuration(d)
		back, err := ParseDuration(text)
		if err != nil {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) error: %v", d, text, err)
			continue
		}
		if back != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v", d, text, back)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1d12h")); err != nil {
		t.Fatalf("UnmarshalText: %v", err)
	}
	if time.Duration(d) != 36*time.Hour {
		t.Errorf("UnmarshalText(1d12h) = %v, want 36h", time.Duration(d))
	}
	text, err := d.MarshalText()
	if err != nil || string(text) != "1d12h" {
		t.Errorf("MarshalText = %q, %v; want \"1d12h\", nil", text, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText(soon) succeeded, want an error")
	}
	if time.Duration(d) != 36*time.Hour {
		t.Errorf("a failed UnmarshalText changed the value to %v", time.Duration(d))
	}
}

// Durations beyond time.Duration's range are errors that say so, wherever
// the overflow happens: in the weeks, in the days, in Go's part or in their
// sum. They used to wrap around (15250w106751d71h34m34s became 290ms,
// 300000d a negative duration).
func TestParseDurationOutOfRange(t *testing.T) {
	for _, in := range []string{
		"15250w106751d71h34m34s", "300000d", "9999999w", "15251w", "106752d",
		"2562048h", "106751d24h", "15250w106751d", "106751d23h47m17s", "106751d23h47m16.9s",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseDuration(in)
			if !errors.Is(err, ErrDurationRange) || !strings.Contains(err.Error(), strconv.Quote(in)) {
				t.Errorf("ParseDuration(%q) = %v, %v; want an out-of-range error naming it", in, got, err)
			}
		})
	}
	// The longest durations still parse.
	for in, want := range map[string]time.Duration{
		"106751d23h47m16s": 106751*day + 23*time.Hour + 47*time.Minute + 16*time.Second,
		"15250w1d":         (15250*7 + 1) * day,
		"2562047h":         2562047 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
