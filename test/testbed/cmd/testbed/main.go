// Command testbed builds and runs the prescaler test control plane.
//
//	go run ./test/testbed/cmd/testbed build        # build the binaries into the cache, print their folder
//	go run ./test/testbed/cmd/testbed build -with keda  # also the optional KEDA operator (its folder on a second line)
//	go run ./test/testbed/cmd/testbed build -with karpenter  # also the optional Karpenter (kwok provider)
//	go run ./test/testbed/cmd/testbed up [flags]   # start a testbed, print its kubeconfig, run until Ctrl-C
//	go run ./test/testbed/cmd/testbed up -seed -env-file testbed.env  # with the example config's world (docs/install.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prescaler/prescaler/test/testbed"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testbed:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	usage := errors.New("usage: testbed build [-with keda|karpenter] | testbed up [-nodes N] [-gpus G] [-hpa-sync D] [-keep] [-seed] [-env-file F]")
	if len(args) == 0 {
		return usage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "build":
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		with := fs.String("with", "", "optional component to build too: keda or karpenter")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		buildOptional, ok := optionalBuilds[*with]
		if *with != "" && !ok {
			return fmt.Errorf("-with %q: the optional components are keda and karpenter", *with)
		}
		start := time.Now()
		info, err := testbed.Build(ctx, testbed.BuildOptions{Logf: logf})
		if err != nil {
			return err
		}
		if info.Built {
			logf("testbed: built in %s", time.Since(start).Round(time.Second))
		} else {
			logf("testbed: binaries are up to date (%s)", info.Key)
		}
		fmt.Fprintln(stdout, info.Dir)
		if buildOptional != nil {
			return buildOptional(ctx, stdout, logf)
		}
		return nil
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		nodes := fs.Int("nodes", 2, "kwok nodes to add")
		gpus := fs.Int64("gpus", 4, "nvidia.com/gpu per node")
		hpaSync := fs.Duration("hpa-sync", 5*time.Second, "HPA sync period")
		keep := fs.Bool("keep", false, "keep the testbed folder after stopping")
		seed := fs.Bool("seed", false, "create the example config's world: ai-inference, inference-hpa and 15 days of ai_requests_total")
		envFile := fs.String("env-file", "", "write the export lines (KUBECONFIG, PROMETHEUS_URL, PATH with kubectl) to this file once ready")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		opts := testbed.Options{HPASyncPeriod: *hpaSync, KeepDir: *keep, Logf: logf}
		if *seed {
			now := time.Now()
			c, err := newCounter(now)
			if err != nil {
				return err
			}
			exporter, err := newSeedExporter(c)
			if err != nil {
				return err
			}
			defer exporter.close()
			seedOptions(&opts, c, exporter, now)
		}
		env, err := testbed.Launch(ctx, opts)
		if err != nil {
			return err
		}
		defer func() {
			if err := env.Stop(); err != nil {
				logf("testbed: stop: %v", err)
			}
		}()
		for i := range *nodes {
			name := fmt.Sprintf("gpu-node-%d", i)
			if _, err := env.AddNode(ctx, testbed.GPUNode(name, *gpus)); err != nil {
				return err
			}
			logf("testbed: node %s with %d nvidia.com/gpu is Ready", name, *gpus)
		}
		if *seed {
			if err := (testbed.Seed{QueueDepth: true}).Create(ctx, env.Client); err != nil {
				return err
			}
			logf("testbed: seeded ai-inference, inference-hpa and ai_requests_total")
		}
		if *envFile != "" {
			if err := writeEnvFile(*envFile, env); err != nil {
				return err
			}
			defer func() { _ = os.Remove(*envFile) }()
		}
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", env.Kubeconfig)
		fmt.Fprintf(stdout, "# prometheus: %s\n# logs: %s/logs\n# Ctrl-C stops everything\n", env.PrometheusURL, env.Dir)
		<-ctx.Done()
		logf("testbed: stopping")
		return nil
	default:
		return usage
	}
}

// optionalBuilds are the components `build -with` builds, each into its own
// cache folder, printed on a second line.
var optionalBuilds = map[string]func(context.Context, io.Writer, func(string, ...any)) error{
	"keda":      optionalBuild("KEDA operator", testbed.BuildKEDA),
	"karpenter": optionalBuild("Karpenter", testbed.BuildKarpenter),
}

func optionalBuild(what string, build func(context.Context, testbed.BuildOptions) (testbed.BuildInfo, error)) func(context.Context, io.Writer, func(string, ...any)) error {
	return func(ctx context.Context, stdout io.Writer, logf func(string, ...any)) error {
		start := time.Now()
		info, err := build(ctx, testbed.BuildOptions{Logf: logf})
		if err != nil {
			return err
		}
		if info.Built {
			logf("testbed: %s built in %s", what, time.Since(start).Round(time.Second))
		} else {
			logf("testbed: %s is up to date (%s)", what, info.Key)
		}
		fmt.Fprintln(stdout, info.Dir)
		return nil
	}
}
