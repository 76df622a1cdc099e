package main

import "testing"

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tprescaler\nVmPeak:\t 2000000 kB\nVmHWM:\t  469456 kB\nVmRSS:\t  331904 kB\nRssAnon:\t  266368 kB\nRssFile:\t   65536 kB\n"
	for field, want := range map[string]float64{"VmHWM": 469456, "RssAnon": 266368, "RssFile": 65536} {
		if got := parseStatusKB(status, field); got != want*1024 {
			t.Errorf("%s = %g, want %g", field, got, want*1024)
		}
	}
	if got := parseStatusKB("Name:\tprescaler\n", "VmHWM"); got != 0 {
		t.Errorf("VmHWM of a status without it = %g, want 0", got)
	}
}
