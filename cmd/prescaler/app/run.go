package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/prescaler/prescaler/collector/capacity"
	"github.com/prescaler/prescaler/collector/nodepool"
	promsrc "github.com/prescaler/prescaler/collector/prometheus"
	"github.com/prescaler/prescaler/collector/startup"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/daemon/adapters"
	"github.com/prescaler/prescaler/internal/version"
	"github.com/prescaler/prescaler/writer"
	"github.com/prescaler/prescaler/writer/placeholder"
)

type runFlags struct {
	configPath string
	kubeconfig string
	kubeQPS    float32
	kubeBurst  int
	logFormat  string
	logLevel   string
	lag        time.Duration
	reload     time.Duration
	namespaces []string
	pprof      bool
}

func newRunCommand() *cobra.Command {
	f := runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: forecast each target's demand and write its HPA floor",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(daemon.GCPercent)
			}
			r, err := newRunner(ctx, f, log)
			if err != nil {
				return err
			}
			return r.run(ctx)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.configPath, "config", "", "configuration file (YAML; see docs/config.md)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", kubeconfigHelp)
	// A loop reads each target's object and may write it and an Event: about
	// three calls per target. client-go's default of 5 per second would cap
	// a 15-second loop near 25 targets.
	fs.Float32Var(&f.kubeQPS, "kube-api-qps", 50, "sustained requests per second to the Kubernetes API")
	fs.IntVar(&f.kubeBurst, "kube-api-burst", 100, "burst of requests to the Kubernetes API")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&f.lag, "scrape-lag", 15*time.Second, "read a demand step this long after it ends, so its scrapes have arrived")
	fs.DurationVar(&f.reload, "reload-interval", 5*time.Second, "how often the config file is checked for changes")
	fs.StringSliceVar(&f.namespaces, "namespace", nil, "list and watch Deployments, LimitRanges and HPAs (and ScaledObjects) in these namespaces only, comma-separated or repeated (a namespace-scoped install; every target must be in one of them); none: all namespaces")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's runtime profiles (heap, CPU, goroutines) at /debug/pprof/ on server.address; off by default: they show the process's internals to anyone who reaches the port, and a CPU profile costs CPU while it runs")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// runner is everything `prescaler run` wires together, built in one place.
type runner struct {
	flags     runFlags
	log       *slog.Logger
	cfg       *config.Config
	kube      kubernetes.Interface
	registry  *prometheus.Registry
	daemon    *daemon.Daemon
	informers informers.SharedInformerFactory
	// karpenter watches NodePools and NodeClaims; nil where Karpenter is
	// not installed (looked up once, at start).
	karpenter dynamicinformer.DynamicSharedInformerFactory
	reloads   *prometheus.CounterVec
	// prom is the Prometheus the daemon queries; a reload that changes
	// prometheus.* replaces its client. applied is the config in force.
	prom    *adapters.Prometheus
	applied *config.Config
	// file is the config file as last loaded; applied adds the targets of
	// annotated objects to it (annotated is nil unless discovery.enabled
	// at start).
	file      *config.Config
	annotated *annotated
	// scaledObjects caches KEDA's ScaledObjects for the writer and
	// discovery; nil where KEDA is not served (looked up once, at start).
	scaledObjects *scaledObjectInformer
	// restartRequired is 1 while the config in force differs from the one
	// the process started with in keys read only at start.
	restartRequired prometheus.Gauge
	// leader is true while this process's loop writes: always without
	// leader election, while holding the Lease with it.
	leader atomic.Bool
}

func (r *runner) leading() bool { return r.leader.Load() }

// leaderGauge exports whether this process runs the loop, so that "no
// replica leads" and "two replicas lead" are both visible.
func (r *runner) leaderGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "prescaler", Name: "leader",
		Help: "1 while this process writes its decisions (holds the Lease, or leader election is off); a standby replica's loop decides and writes nothing."},
		func() float64 {
			if r.leading() {
				return 1
			}
			return 0
		})
}

// lastLoopGauge exports when the last loop ended, on the leader and on a
// standby alike (a standby exports no loop duration): how fresh a
// standby's models are.
func (r *runner) lastLoopGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "prescaler", Name: "last_loop_end_timestamp_seconds",
		Help: "When the last control loop ended (Unix seconds; 0 before the first), on the leader and on a standby replica."},
		func() float64 {
			if r.daemon == nil {
				return 0
			}
			end := r.daemon.LastLoopEnd()
			if end.IsZero() {
				return 0
			}
			return float64(end.UnixNano()) / 1e9
		})
}

// buildInfo is the usual constant 1 gauge carrying the build's version.
func buildInfo() prometheus.Collector {
	v := version.Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "prescaler", Name: "build_info",
		Help:        "1, labelled with the running build's version, commit and Go version.",
		ConstLabels: prometheus.Labels{"version": v.Version, "commit": v.Commit, "goversion": v.GoVersion}},
		func() float64 { return 1 })
}

func newRunner(ctx context.Context, f runFlags, log *slog.Logger) (*runner, error) {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return nil, err
	}
	if f.namespaces, err = parseNamespaces(f.namespaces); err != nil {
		return nil, err
	}
	logStart(log, cfg, f.namespaces)
	restCfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	restCfg.UserAgent = "prescaler"
	restCfg.QPS, restCfg.Burst = f.kubeQPS, f.kubeBurst
	registry := prometheus.NewRegistry()
	restCfg.Wrap(countKubeRequests(newKubeRequestsMetric(registry)))
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	r := &runner{flags: f, log: log, cfg: cfg, applied: cfg, file: cfg, kube: kube, registry: registry}
	r.leader.Store(!cfg.LeaderElection.Enabled)
	r.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "config_reloads_total",
		Help: "Config file reloads by result: success (applied), restart_required (applied, but it changes keys read only at start: server.*, leaderElection.*, discovery.enabled turned on) or failure (rejected, the last good config stays)."}, []string{"result"})
	for _, result := range []string{reloadSuccess, reloadRestartRequired, reloadFailure} {
		r.reloads.WithLabelValues(result)
	}
	r.restartRequired = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "prescaler", Name: "config_restart_required",
		Help: "1 while the config file in force changes keys read only at start (server.*, leaderElection.*): they apply after a restart."})
	r.registry.MustRegister(r.reloads, r.restartRequired, r.leaderGauge(), r.lastLoopGauge(), buildInfo())

	src, err := promsrc.New(cfg.Prometheus, log)
	if err != nil {
		return nil, err
	}
	r.prom = adapters.NewPrometheus(src)
	queryMetrics, err := promsrc.NewMetrics(r.registry)
	if err != nil {
		return nil, err
	}
	if r.informers, err = newInformerFactory(kube, f.namespaces, cfg); err != nil {
		return nil, err
	}
	// KEDA installed later is seen after a restart. A lookup that fails
	// leaves ScaledObjects uncached (read from the API server each loop);
	// discovery, which lists them, cannot start without it.
	keda, err := kedaServed(kube.Discovery())
	if err != nil && cfg.Discovery.Enabled {
		return nil, err
	}
	if err != nil {
		log.Error("looking up KEDA failed; ScaledObjects are read from the API server until a restart", "err", err)
	}
	cache := writer.Listers{
		HPAs:        r.informers.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
		Deployments: r.informers.Apps().V1().Deployments().Lister(),
	}
	if keda {
		r.scaledObjects = newScaledObjectInformer(dyn, f.namespaces)
		cache.ScaledObjects = r.scaledObjects.lister
	}
	if cfg.Discovery.Enabled {
		r.annotated = newAnnotated(r.informers, r.scaledObjects, log)
	}
	capColl := capacity.NewCollector(r.informers)
	recorder, err := startup.NewRecorder(r.informers, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	pools, err := r.nodePools(kube, dyn)
	if err != nil {
		return nil, err
	}
	w, err := writer.NewForConfig(restCfg, eventRecorder(ctx, kube), log, cache)
	if err != nil {
		return nil, err
	}
	targets := &adapters.ScaleTargets{Writer: w, TTL: time.Minute}
	// Targets whose queries differ only in label values are read together.
	batched := promsrc.NewBatcher(r.prom, promsrc.BatcherOptions{Metrics: queryMetrics, Logger: log})
	scale := adapters.Scaler{Writer: w, Namespaces: f.namespaces}
	r.daemon, err = daemon.New(cfg, daemon.Options{
		Demand:   adapters.Demand{Source: batched, Metrics: queryMetrics},
		Capacity: adapters.Capacity{Targets: targets, Collector: capColl},
		Startup:  adapters.Startup{Targets: targets, Recorder: recorder, Window: 6 * time.Hour, MinSamples: 3, Now: time.Now},
		Scaler:   scale,
		Sweeper:  scale,
		Signals: adapters.Signals{Source: batched, Targets: targets, Collector: capColl, Stale: 2 * time.Minute,
			Metrics: queryMetrics},
		Nodes: adapters.Nodes{Targets: targets, Capacity: capColl, Pools: pools, Window: nodeLeadWindow, Now: time.Now},
		Placeholders: adapters.Placeholders{Client: placeholder.New(kube), Targets: targets, Capacity: capColl,
			Namespaces: f.namespaces},
		Tuner:             adapters.Tuner{},
		Metrics:           daemon.NewMetrics(r.registry),
		CheckpointMetrics: daemon.NewCheckpointMetrics(r.registry),
		Log:               log,
		Lag:               f.lag,
	})
	return r, err
}

// nodeLeadWindow is how far back node start-ups count for the node lead
// time: nodes start far less often than pods.
const nodeLeadWindow = 24 * time.Hour

// nodePools builds the collector of node autoscalers' pools and node
// start-ups, watching Karpenter's NodePools and NodeClaims where the API
// server serves them. Karpenter installed later is seen after a restart;
// a lookup that fails leaves the pools unwatched, so targets whose
// provisioner is auto or karpenter are treated as fixed pools (never asking
// for a node that may not come) until a restart looks again.
func (r *runner) nodePools(kube kubernetes.Interface, dyn dynamic.Interface) (*nodepool.Collector, error) {
	has, err := nodepool.Available(kube.Discovery())
	if err != nil {
		r.log.Error("looking up Karpenter failed; node pools are treated as fixed until a restart", "err", err)
	}
	if has {
		r.karpenter = dynamicinformer.NewDynamicSharedInformerFactory(dyn, informerResync)
	}
	r.log.Info("node autoscaler", "karpenter", has)
	return nodepool.NewCollector(r.informers, r.karpenter, nodeLeadWindow)
}

// startInformers starts every informer and waits for their first lists.
func (r *runner) startInformers(ctx context.Context) error {
	r.informers.Start(ctx.Done())
	for typ, ok := range r.informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	if r.scaledObjects != nil {
		if err := r.scaledObjects.start(ctx); err != nil {
			return err
		}
	}
	if r.karpenter == nil {
		return nil
	}
	r.karpenter.Start(ctx.Done())
	for gvr, ok := range r.karpenter.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer cache for %v did not sync", gvr)
		}
	}
	return nil
}

// eventRecorder records Events on the objects prescaler writes to.
func eventRecorder(ctx context.Context, kube kubernetes.Interface) record.EventRecorder {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "prescaler"})
}

// run serves the HTTP endpoints, watches the config, and runs the loop while
// this process leads. The listener is opened first: a daemon whose
// /metrics, /healthz and /readyz nobody can reach must not act, so a taken
// port fails the start before any informer, Lease or write. A shutdown
// (ctx cancelled: SIGTERM, SIGINT) returns nil, with or without leader
// election.
func (r *runner) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.cfg.Server.Address)
	if err != nil {
		return fmt.Errorf("server.address %s: %w", r.cfg.Server.Address, err)
	}
	srv := r.server()
	serveErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	r.log.Info("serving metrics and probes", "address", ln.Addr().String())
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		if err := <-serveErr; err != nil {
			r.log.Error("http server failed; stopping", "err", err)
			stop(fmt.Errorf("http server: %w", err))
		}
	}()
	if err := r.startInformers(ctx); err != nil {
		return shutdownOr(ctx, err)
	}
	if r.annotated != nil {
		// The annotated objects' targets join before the first loop, whose
		// sweep would otherwise give their objects back.
		r.rediscover(ctx)
	}
	go r.watchConfig(ctx, modTime(r.flags.configPath))
	if !r.cfg.LeaderElection.Enabled {
		return shutdownOr(ctx, r.daemon.Run(ctx))
	}
	return shutdownOr(ctx, r.lead(ctx))
}

// shutdownOr is nil when ctx ended by a shutdown request, the cause when
// something else ended it (the HTTP server failing), and err otherwise.
func shutdownOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *runner) server() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{Registry: r.registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.daemon.Live(time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	// Ready once a loop has completed, on a standby too: its loop keeps
	// the models a takeover decides from, so a rolling update waits for
	// the new pod's first loop (its history read and fits) before it
	// removes an old one.
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.daemon.Ready(time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/status", r.serveStatus)
	if r.flags.pprof {
		handlePprof(mux)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// handlePprof serves net/http/pprof's handlers on mux (importing the
// package also registers them on http.DefaultServeMux, which prescaler never
// serves). Index serves every named profile (heap, allocs, goroutine…) under
// /debug/pprof/<name>.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// statusReport is the body of /status: every target's state as its last
// loop left it (`prescaler status` prints it). A standby replica answers
// 503 with Standby set: its loop writes nothing, so its decisions are not
// the ones in force.
type statusReport struct {
	Standby bool                  `json:"standby,omitempty"`
	Targets []daemon.TargetStatus `json:"targets"`
}

func (r *runner) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	report := statusReport{Targets: []daemon.TargetStatus{}}
	if !r.leading() {
		report.Standby = true
		w.WriteHeader(http.StatusServiceUnavailable)
	} else {
		report.Targets = r.daemon.Status()
	}
	_ = json.NewEncoder(w).Encode(report)
}

// lead runs the loop on standby (deciding, writing nothing) and lets it
// write while this process holds the Lease; a standby takes over when the
// leader's lease expires, with every model current.
func (r *runner) lead(ctx context.Context) error {
	le := r.cfg.LeaderElection
	ns := le.Namespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		ns = "default"
	}
	// The identity is unique per process start, not just per pod, so a
	// restarted container never mistakes its predecessor's lease for its own.
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, ns, le.LeaseName, r.kube.CoreV1(), r.kube.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	// The loop runs from the start, on standby until this process holds
	// the Lease: it reads, fits and decides every target, so a takeover
	// writes at once from current models (Daemon.SetStandby).
	r.daemon.SetStandby(true)
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan error, 1)
	go func() { loopDone <- r.daemon.Run(loopCtx) }()
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: "prescaler",
		LeaseDuration: time.Duration(le.LeaseDuration), RenewDeadline: time.Duration(le.RenewDeadline),
		RetryPeriod: time.Duration(le.RetryPeriod),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				r.leader.Store(true)
				r.daemon.SetStandby(false)
				r.log.Info("leading", "lease", ns+"/"+le.LeaseName, "identity", id)
				<-ctx.Done()
			},
			OnStoppedLeading: func() {
				r.daemon.SetStandby(true)
				r.leader.Store(false)
				r.log.Info("stopped leading", "lease", ns+"/"+le.LeaseName)
			},
		},
	})
	stopLoop()
	loopErr := <-loopDone
	if ctx.Err() != nil {
		return nil
	}
	if loopErr != nil && !errors.Is(loopErr, context.Canceled) {
		return loopErr
	}
	return errors.New("lost the leader lease")
}

// watchConfig reloads the config file when it changes (see reload).
// Polling the modification time (rather than inotify) also sees a
// ConfigMap's atomic symlink swap. last is the modification time of the
// config in force, read before the watch starts so that no change slips in
// between.
func (r *runner) watchConfig(ctx context.Context, last time.Time) {
	tick := time.NewTicker(r.flags.reload)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		mt := modTime(r.flags.configPath)
		if mt.Equal(last) {
			if r.annotated != nil {
				r.rediscover(ctx)
			}
			continue
		}
		last = mt
		r.reload(ctx)
	}
}

// Config reload results (prescaler_config_reloads_total's label).
const (
	reloadSuccess         = "success"
	reloadRestartRequired = "restart_required"
	reloadFailure         = "failure"
)

// reload reads the config file and applies what can be applied while
// running: the targets and the loop interval (next loop), and prometheus.*
// (a new client for the next queries). An invalid file, or one whose
// Prometheus client cannot be built, changes nothing: every problem is
// logged and the last good config stays. Keys read only at start
// (server.*, leaderElection.*) are never a silent success: the reload is
// counted as restart_required, logged with the keys, and
// prescaler_config_restart_required stays 1 until a restart, or a later
// file that puts them back.
func (r *runner) reload(ctx context.Context) {
	file, err := config.Load(r.flags.configPath)
	if err == nil {
		err = checkScope(r.flags.namespaces, file)
	}
	cfg := file
	if err == nil {
		cfg, err = r.effective(file)
	}
	var src *promsrc.Source
	if err == nil && !reflect.DeepEqual(cfg.Prometheus, r.applied.Prometheus) {
		src, err = promsrc.New(cfg.Prometheus, r.log)
	}
	if err == nil {
		err = r.daemon.Update(ctx, cfg)
	}
	if err != nil {
		r.reloads.WithLabelValues(reloadFailure).Inc()
		r.log.Error("config reload rejected; keeping the last good config", "file", r.flags.configPath, "err", err)
		return
	}
	if src != nil {
		r.prom.Swap(src)
		r.log.Info("prometheus client rebuilt from the reloaded config", "url", src.URL())
	}
	r.applied, r.file = cfg, file
	if keys := startOnlyChanges(r.cfg, cfg); len(keys) > 0 {
		r.restartRequired.Set(1)
		r.reloads.WithLabelValues(reloadRestartRequired).Inc()
		r.log.Warn("config reloaded, but these keys apply only after a restart", "file", r.flags.configPath,
			"keys", keys, "targets", len(cfg.Targets))
		return
	}
	r.restartRequired.Set(0)
	r.reloads.WithLabelValues(reloadSuccess).Inc()
	r.log.Info("config reloaded", "file", r.flags.configPath, "targets", len(cfg.Targets))
}

// startOnlyChanges names the keys read only at start (the HTTP server,
// leader election, discovery turned on) whose value in next differs from
// started, e.g. "server.address".
func startOnlyChanges(started, next *config.Config) []string {
	var keys []string
	keys = append(keys, changedFields("server", started.Server, next.Server)...)
	keys = append(keys, changedFields("leaderElection", started.LeaderElection, next.LeaderElection)...)
	// Discovery's informers start with the process: turning it off applies
	// at once (its targets leave), turning it on after a restart.
	if !started.Discovery.Enabled && next.Discovery.Enabled {
		keys = append(keys, "discovery.enabled")
	}
	return keys
}

// changedFields lists prefix.<yaml name> for each field of the structs a
// and b (of one type) that differs.
func changedFields(prefix string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("yaml"), ",")
		if name == "" {
			name = va.Type().Field(i).Name
		}
		out = append(out, prefix+"."+name)
	}
	return out
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
