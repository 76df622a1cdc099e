// Command demo is prescaler's "see it run": `make demo` (or `go run ./demo`)
// starts a real control plane (the test testbed: etcd, kube-apiserver,
// kube-controller-manager with the HPA controller, kube-scheduler, kwok GPU
// nodes and Prometheus), creates an inference Deployment and its HPA, replays
// a compressed day of traffic against it and runs `prescaler run` beside the
// HPA, printing demand, forecast, floor and replicas as they happen. See
// docs/demo.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	// Ctrl-C or SIGTERM ends the live run: the summary is printed and every
	// process stopped. A second one kills the demo at once; the testbed's
	// processes die with it (they run with a parent-death signal).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	d := &demo{o: o, out: os.Stdout, errOut: os.Stderr}
	if _, err := d.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
