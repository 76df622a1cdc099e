package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/collector/nvml"
)

// agentOptions are the flags of `prescaler agent`.
type agentOptions struct {
	listen             string
	nodeName           string
	podResourcesSocket string
	nvmlLibrary        string
	collectTimeout     time.Duration
	shutdownTimeout    time.Duration
	logFormat          string
	logLevel           string
}

func defaultAgentOptions() agentOptions {
	return agentOptions{
		listen:             ":9400",
		podResourcesSocket: nvml.DefaultPodResourcesSocket,
		nvmlLibrary:        nvml.DefaultLibraryPath,
		collectTimeout:     nvml.DefaultTimeout,
		shutdownTimeout:    10 * time.Second,
		logFormat:          "text",
		logLevel:           "info",
	}
}

// newAgentCommand returns `prescaler agent`, the node agent that runs as a
// DaemonSet on GPU nodes.
func newAgentCommand() *cobra.Command {
	o := defaultAgentOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Export per-GPU utilization, memory and power, attributed to pods (DaemonSet on GPU nodes)",
		Long: `agent reads every GPU on the node through NVML at each scrape, attributes each GPU to
the container it is allocated to through the kubelet pod-resources API, and serves the
readings as Prometheus metrics on /metrics (liveness on /healthz). prescaler learns how
much load one replica carries from them.

Without an NVIDIA driver (or in a binary built without cgo) the agent keeps running and
exports prescaler_agent_nvml_up 0. Without the pod-resources socket the GPU series carry
no namespace, pod or container labels. See docs/agent.md.`,
		Example: `  prescaler agent --listen :9400 --node-name "$NODE_NAME"
  prescaler agent --pod-resources-socket "" --nvml-library /usr/lib64/libnvidia-ml.so.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			return runAgent(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.listen, "listen", o.listen, "address to serve /metrics and /healthz on")
	fs.StringVar(&o.nodeName, "node-name", "", "value of the node label (default: $NODE_NAME, else the hostname)")
	fs.StringVar(&o.podResourcesSocket, "pod-resources-socket", o.podResourcesSocket,
		`kubelet pod-resources API socket, for the namespace, pod and container labels ("" turns attribution off)`)
	fs.StringVar(&o.nvmlLibrary, "nvml-library", o.nvmlLibrary,
		"NVML library to load: a file name searched on the dynamic loader's path, or a path")
	fs.DurationVar(&o.collectTimeout, "collect-timeout", o.collectTimeout,
		"longest a scrape waits for NVML and the kubelet; keep it below Prometheus' scrape_timeout")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout,
		"longest to wait for in-flight scrapes on SIGTERM")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn or error")
	return cmd
}

// complete fills the node name from $NODE_NAME (set from the downward API
// in the DaemonSet) or the hostname.
func (o *agentOptions) complete() error {
	if o.nodeName != "" {
		return nil
	}
	if o.nodeName = os.Getenv("NODE_NAME"); o.nodeName != "" {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("--node-name is empty, $NODE_NAME is unset and the hostname is unknown: %w", err)
	}
	o.nodeName = host
	return nil
}

// validate checks every flag and reports all the bad ones.
func (o *agentOptions) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port or :port: %w", o.listen, err))
	}
	if o.nodeName == "" {
		errs = append(errs, errors.New("--node-name must not be empty"))
	}
	if o.collectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--collect-timeout %s must be positive", o.collectTimeout))
	}
	if o.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s must be positive", o.shutdownTimeout))
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q must be text or json", o.logFormat))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q must be debug, info, warn or error", o.logLevel))
	}
	return errors.Join(errs...)
}

func (o *agentOptions) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runAgent wires the agent and serves until ctx is cancelled or SIGTERM or
// SIGINT arrives, then shuts the HTTP server down gracefully.
func runAgent(ctx context.Context, o agentOptions, logOut io.Writer) error {
	logger := o.logger(logOut).With("node", o.nodeName)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	allocations, closeAllocations := openPodResources(o.podResourcesSocket, logger)
	defer closeAllocations()
	collector, err := nvml.NewCollector(nvml.CollectorOptions{
		NodeName:    o.nodeName,
		Library:     nvml.NewLibrary(o.nvmlLibrary),
		Allocations: allocations,
		Timeout:     o.collectTimeout,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collector,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	// Read NVML once now, so the log says at start whether it is up.
	collector.Start(ctx)
	defer func() {
		if err := collector.Close(); err != nil {
			logger.Warn("closing NVML", "err", err)
		}
	}()

	srv := &http.Server{
		Handler:           agentHandler(reg, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("serving /metrics and /healthz", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", o.listen, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut the HTTP server down: %w", err)
	}
	return nil
}

// openPodResources returns the kubelet pod-resources client, or nil (no
// attribution) with one log line saying why.
func openPodResources(socket string, logger *slog.Logger) (nvml.AllocationLister, func()) {
	noop := func() {}
	const consequence = "GPU series carry no namespace, pod or container labels"
	if socket == "" {
		logger.Info("pod attribution off (--pod-resources-socket is empty): " + consequence)
		return nil, noop
	}
	if _, err := os.Stat(socket); err != nil {
		logger.Warn("kubelet pod-resources socket not available (mount the host's /var/lib/kubelet/pod-resources): "+consequence,
			"socket", socket, "err", err)
		return nil, noop
	}
	pr, err := nvml.DialPodResources(socket)
	if err != nil {
		logger.Warn("kubelet pod-resources API unusable: "+consequence, "socket", socket, "err", err)
		return nil, noop
	}
	logger.Info("attributing GPUs to pods through the kubelet pod-resources API", "socket", socket)
	return pr, func() { _ = pr.Close() }
}

// agentHandler serves /metrics from reg (a failing collector degrades the
// output instead of failing the scrape) and /healthz.
func agentHandler(reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
