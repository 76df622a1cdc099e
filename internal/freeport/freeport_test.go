package freeport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	ports, err := Ports(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	high := ephemeralLow()
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d handed out twice in %v", p, ports)
		}
		seen[p] = true
		if p < lowest || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, high)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		l.Close()
	}
}

func TestEphemeralRangeIsReadFromTheKernelFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "range")
	if err := os.WriteFile(path, []byte("40000\t60999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	low, err := readEphemeralLow(path)
	if err != nil || low != 40000 {
		t.Fatalf("readEphemeralLow = %d, %v; want 40000", low, err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEphemeralLow(path); err == nil {
		t.Fatal("a malformed range file was accepted")
	}
}
