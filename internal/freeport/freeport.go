// Package freeport finds loopback TCP ports for test processes that must be
// told their port before they start (etcd, the apiserver, an agent started
// as a subprocess).
//
// Asking the kernel for port 0 and closing the listener is racy in a
// particular way: the kernel hands out port-0 listeners from the same
// ephemeral range it uses for the source ports of outgoing connections, so
// while many test packages run side by side, each with clients talking to
// its own control plane, a port chosen that way is often taken as a source
// port before the component binds it ("bind: address already in use").
// Ports below the ephemeral range are never used as source ports, so they
// are chosen there, at random (test packages run as separate processes and
// cannot coordinate), and each is bound once to prove it free.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the lowest port handed out: below it live well-known and
// registered services a developer may run.
const lowest = 10000

// defaultEphemeralLow is Linux's default start of the ephemeral range.
const defaultEphemeralLow = 32768

// rangeFile holds the kernel's ephemeral port range, "low high".
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// attempts bounds the random search; with a range of thousands of ports and
// a few dozen in use it is never reached unless the range is exhausted.
const attempts = 1000

// Ports returns n distinct loopback ports that were free a moment ago and
// lie outside the kernel's ephemeral range.
func Ports(n int) ([]int, error) {
	high := ephemeralLow()
	if high-lowest < n {
		return nil, fmt.Errorf("freeport: only %d ports between %d and the ephemeral range at %d, %d wanted", high-lowest, lowest, high, n)
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for try := 0; len(ports) < n; try++ {
		if try == attempts {
			return nil, fmt.Errorf("freeport: no free port between %d and %d after %d tries", lowest, high, attempts)
		}
		port := lowest + rand.IntN(high-lowest)
		// Holding the listener until all n are chosen keeps them distinct.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// Addr returns "127.0.0.1:port" for one port from Ports.
func Addr() (string, error) {
	ports, err := Ports(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, or the
// Linux default where the range cannot be read (another OS, no /proc).
func ephemeralLow() int {
	low, err := readEphemeralLow(rangeFile)
	if err != nil || low <= lowest {
		return defaultEphemeralLow
	}
	return low
}

func readEphemeralLow(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, errors.New("freeport: " + path + " is not \"low high\"")
	}
	return strconv.Atoi(fields[0])
}
