// Command testbed builds and runs the prescaler test control plane.
//
//	go run ./test/testbed/cmd/testbed build        # build the binaries into the cache, print their folder
//	go run ./test/testbed/cmd/testbed build -with keda  # also the optional KEDA operator (its folder on a second line)
//	go run ./test/testbed/cmd/testbed build -with keda,karpenter  # also Karpenter (kwok provider), a folder per line
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
	"strings"
	"sync"
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
	usage := errors.New("usage: testbed build [-with keda,karpenter] | testbed up [-nodes N] [-gpus G] [-hpa-sync D] [-keep] [-seed] [-env-file F]")
	if len(args) == 0 {
		return usage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "build":
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		with := fs.String("with", "", "optional components to build too, comma-separated: keda, karpenter")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		optional, err := parseWith(*with)
		if err != nil {
			return err
		}
		return buildAll(ctx, optional, stdout, logf)
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
// cache folder.
var optionalBuilds = map[string]component{
	"keda":      {what: "KEDA operator", build: testbed.BuildKEDA},
	"karpenter": {what: "Karpenter", build: testbed.BuildKarpenter},
}

// component is one thing `build` builds into its own cache folder.
type component struct {
	what  string
	build func(context.Context, testbed.BuildOptions) (testbed.BuildInfo, error)
}

// parseWith reads -with: known names, each once, in the order given.
func parseWith(with string) ([]component, error) {
	var out []component
	seen := map[string]bool{}
	for name := range strings.SplitSeq(with, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		c, ok := optionalBuilds[name]
		if !ok {
			return nil, fmt.Errorf("-with %q: the optional components are keda and karpenter", name)
		}
		seen[name] = true
		out = append(out, c)
	}
	return out, nil
}

// buildAll builds the control plane and the optional components, the
// optional ones one after another beside the control plane: a go build
// keeps both cores busy only while it compiles, so a second one fills the
// gaps of the first (its links, the packages that wait for one slow
// dependency). It prints each folder on its own line, the control plane's
// first, once all are built.
func buildAll(ctx context.Context, optional []component, stdout io.Writer, logf func(string, ...any)) error {
	core := component{what: "control plane", build: testbed.Build}
	dirs := make([]string, 1+len(optional))
	errs := make([]error, 1+len(optional))
	var wg sync.WaitGroup
	wg.Go(func() { dirs[0], errs[0] = buildOne(ctx, core, logf) })
	wg.Go(func() {
		for i, c := range optional {
			if dirs[i+1], errs[i+1] = buildOne(ctx, c, logf); errs[i+1] != nil {
				return
			}
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, d := range dirs {
		fmt.Fprintln(stdout, d)
	}
	return nil
}

// buildOne builds one component and says how long it took.
func buildOne(ctx context.Context, c component, logf func(string, ...any)) (string, error) {
	start := time.Now()
	info, err := c.build(ctx, testbed.BuildOptions{Logf: logf})
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.what, err)
	}
	if info.Built {
		logf("testbed: %s built in %s", c.what, time.Since(start).Round(time.Second))
	} else {
		logf("testbed: %s is up to date (%s)", c.what, info.Key)
	}
	return info.Dir, nil
}
