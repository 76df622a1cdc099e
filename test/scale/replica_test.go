package main

import "testing"

func TestParseHWM(t *testing.T) {
	status := "Name:\tprescaler\nVmPeak:\t 2000000 kB\nVmHWM:\t  469456 kB\nVmRSS:\t  331904 kB\n"
	if got, want := parseHWM(status), 469456.0*1024; got != want {
		t.Errorf("parseHWM = %g, want %g", got, want)
	}
	if got := parseHWM("Name:\tprescaler\n"); got != 0 {
		t.Errorf("parseHWM without VmHWM = %g, want 0", got)
	}
}
