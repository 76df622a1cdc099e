package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Component names one process of the testbed.
type Component string

// The testbed's components, in start order.
const (
	Etcd              Component = "etcd"
	APIServer         Component = "kube-apiserver"
	ControllerManager Component = "kube-controller-manager"
	Scheduler         Component = "kube-scheduler"
	Kwok              Component = "kwok"
	Prometheus        Component = "prometheus"
)

// Karpenter runs only with Options.Karpenter. KEDA comes last: it is started
// on demand (Env.StartKEDA), never by Start.
var startOrder = []Component{Etcd, APIServer, ControllerManager, Scheduler, Kwok, Karpenter, Prometheus, KEDA}

// DefaultControllers are the kube-controller-manager controllers the testbed
// runs: the HPA and the workload controllers it drives, Jobs (Helm's hooks
// are Jobs), the node lifecycle
// (NotReady nodes get tainted) and what makes namespaces, service accounts
// and garbage collection work as on a real cluster.
var DefaultControllers = []string{
	"horizontal-pod-autoscaler-controller",
	"deployment-controller",
	"replicaset-controller",
	"job-controller",
	"node-lifecycle-controller",
	"taint-eviction-controller",
	"pod-garbage-collector-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
}

// Options configures a testbed. The zero value is a working default.
type Options struct {
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period. Default 1s (upstream: 15s).
	HPASyncPeriod time.Duration
	// HPADownscaleStabilization is
	// --horizontal-pod-autoscaler-downscale-stabilization. Default: upstream's
	// 5m; an HPA's spec.behavior overrides it per object.
	HPADownscaleStabilization time.Duration
	// NodeMonitorGracePeriod is --node-monitor-grace-period: how long a node
	// may go without a heartbeat before the node lifecycle controller marks it
	// Unknown. Default: upstream's (50s). kwok heartbeats every 20-45s.
	NodeMonitorGracePeriod time.Duration
	// Controllers replaces DefaultControllers (kube-controller-manager's
	// --controllers).
	Controllers []string
	// ExtraArgs are appended to a component's command line; a repeated flag
	// overrides the testbed's value (e.g. {APIServer: {"--feature-gates=X=true"}}).
	ExtraArgs map[Component][]string

	// Prometheus configures the Prometheus server.
	Prometheus PrometheusOptions

	// DelayedPodReady makes a pod annotated with PodReadyDelayAnnotation
	// (and optionally PodReadyJitterAnnotation) become Ready that long after
	// it is bound, like a model server loading its weights; until then it is
	// scheduled, holds its GPU and stays Pending. Pods without the annotation
	// are Ready at once, as without this option.
	DelayedPodReady bool

	// JobPodsKeepRunning leaves a Job's pods Running instead of completing
	// them at once: kwok runs no container, so a test that needs what a
	// Job's container does runs it itself and then completes the pod
	// (CompletePod), as the kubelet would.
	JobPodsKeepRunning bool

	// PodMetrics, when set, is served as the custom metrics API
	// (custom.metrics.k8s.io/v1beta2, registered as an APIService) from the
	// test process, so that HPAs with Pods metrics read its values. Without
	// it no metrics API is served and HPAs only enforce their bounds.
	PodMetrics PodMetricsFunc

	// Karpenter, when set, runs Karpenter with its kwok cloud provider (see
	// KarpenterOptions and AddNodePool); it is built first if missing (see
	// RequireKarpenter).
	Karpenter *KarpenterOptions

	// BinDir holds the binaries. Default: $PRESCALER_TESTBED_BIN, else the
	// build cache, built first if missing (see Build).
	BinDir string
	// KeepDir keeps Env.Dir (logs, data, kubeconfig) after Stop. Start also
	// keeps it when the test failed, and so does PRESCALER_TESTBED_KEEP=1.
	KeepDir bool
	// StartTimeout bounds the start-up of each component. Default 60s.
	StartTimeout time.Duration
	// Logf receives progress lines. Start defaults it to t.Logf.
	Logf func(format string, args ...any)
}

// PrometheusOptions configures the Prometheus server.
type PrometheusOptions struct {
	// Disabled leaves Prometheus out (PrometheusURL is then empty).
	Disabled bool
	// ScrapeInterval is the global scrape and evaluation interval. Default 5s.
	ScrapeInterval time.Duration
	// ScrapeTargets are host:port addresses scraped as job "testbed" (e.g. an
	// httptest server exporting fake load).
	ScrapeTargets []string
	// History is backfilled (promtool tsdb create-blocks-from openmetrics)
	// before Prometheus first starts.
	History []Series
	// HistoryFile is an OpenMetrics file backfilled likewise.
	HistoryFile string
	// Retention is --storage.tsdb.retention.time. Default 3650d, so that
	// backfilled history of any age survives start-up.
	Retention time.Duration
}

func (o Options) withDefaults() Options {
	if o.Karpenter != nil {
		k := o.Karpenter.withDefaults()
		o.Karpenter = &k
	}
	if o.HPASyncPeriod == 0 {
		o.HPASyncPeriod = time.Second
	}
	if o.Controllers == nil {
		o.Controllers = DefaultControllers
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.Prometheus.ScrapeInterval == 0 {
		o.Prometheus.ScrapeInterval = 5 * time.Second
	}
	if o.Prometheus.Retention == 0 {
		o.Prometheus.Retention = 3650 * 24 * time.Hour
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if os.Getenv("PRESCALER_TESTBED_KEEP") == "1" {
		o.KeepDir = true
	}
	return o
}

// Validate reports the first bad field.
func (o Options) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"HPASyncPeriod", o.HPASyncPeriod},
		{"HPADownscaleStabilization", o.HPADownscaleStabilization},
		{"NodeMonitorGracePeriod", o.NodeMonitorGracePeriod},
		{"StartTimeout", o.StartTimeout},
		{"Prometheus.ScrapeInterval", o.Prometheus.ScrapeInterval},
		{"Prometheus.Retention", o.Prometheus.Retention},
	} {
		if f.d < 0 {
			return fmt.Errorf("testbed: Options.%s must not be negative, got %s", f.name, f.d)
		}
	}
	if o.HPASyncPeriod > 0 && o.HPASyncPeriod < 100*time.Millisecond {
		return fmt.Errorf("testbed: Options.HPASyncPeriod must be at least 100ms, got %s", o.HPASyncPeriod)
	}
	if o.Controllers != nil && len(o.Controllers) == 0 {
		return errors.New("testbed: Options.Controllers is empty; leave it nil for DefaultControllers")
	}
	for c := range o.ExtraArgs {
		if !slices.Contains(startOrder, c) {
			return fmt.Errorf("testbed: Options.ExtraArgs names unknown component %q", c)
		}
	}
	if o.Prometheus.Disabled && (len(o.Prometheus.History) > 0 || o.Prometheus.HistoryFile != "" || len(o.Prometheus.ScrapeTargets) > 0) {
		return errors.New("testbed: Options.Prometheus is Disabled but has History, HistoryFile or ScrapeTargets")
	}
	for i, s := range o.Prometheus.History {
		if err := s.validate(); err != nil {
			return fmt.Errorf("testbed: Options.Prometheus.History[%d]: %w", i, err)
		}
	}
	if o.Karpenter != nil {
		return o.Karpenter.validate()
	}
	return nil
}

// Env is a running testbed: a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler), kwok for fake nodes, and
// Prometheus, all on 127.0.0.1.
type Env struct {
	// Kubeconfig is the path of an admin kubeconfig (group system:masters),
	// self-contained, usable with kubectl.
	Kubeconfig string
	// RESTConfig is the admin REST config (shared: rest.CopyConfig it
	// before changing it).
	RESTConfig *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// PrometheusURL is Prometheus' base URL (http://127.0.0.1:port); empty
	// when Prometheus is disabled.
	PrometheusURL string
	// Dir holds everything the testbed writes: pki/, logs/<component>.log,
	// etcd and Prometheus data, kubeconfigs. Removed by Stop unless kept.
	Dir string

	opts Options
	bins string
	// karpenterBins holds Karpenter and its CRDs, with Options.Karpenter.
	karpenterBins string
	pki           *pki
	procs         map[Component]*process

	metricsServer *http.Server // the fake custom metrics API, if any
	// stopUntaint ends untaintBootedNodes (nil without Karpenter).
	stopUntaint context.CancelFunc

	promMu      sync.Mutex // serialises Prometheus stop/backfill/start
	promDataDir string
	promTool    string
	backfills   int

	stopOnce sync.Once
	stopErr  error
	keepMu   sync.Mutex
	keep     bool
}

// Start builds the binaries if needed (logging progress), starts a testbed
// and registers Stop with t.Cleanup. On failure the test fails with the
// failing component's log tail; when the test fails later, Stop prints the
// tail of every component log and keeps Env.Dir.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.BinDir == "" && !binariesPresent(t.Context(), BuildOptions{}) {
		if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
			if dl, ok := d.Deadline(); ok && time.Until(dl) < 30*time.Minute {
				t.Fatalf("testbed: the binaries are not built and a cold build (20-25 min on 2 cores) "+
					"would outlast this test's deadline (%s left): run `make testbed` (or "+
					"`go run ./test/testbed/cmd/testbed build`) first, or raise go test -timeout",
					time.Until(dl).Round(time.Second))
			}
		}
	}
	env, err := Launch(t.Context(), opts)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			env.keepDir()
			env.dumpLogs(t.Logf)
		}
		if err := env.Stop(); err != nil {
			t.Errorf("testbed: stop: %v", err)
		}
	})
	return env
}

// Launch starts a testbed outside a test (the testbed command uses it). The
// caller must call Stop. On error everything started has been stopped, and
// the folder with the logs is kept and named in the error.
func Launch(ctx context.Context, opts Options) (*Env, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	bins := opts.BinDir
	if bins == "" {
		info, err := Build(ctx, BuildOptions{Logf: opts.Logf})
		if err != nil {
			return nil, fmt.Errorf("building binaries: %w", err)
		}
		bins = info.Dir
	} else if err := checkBinDir(bins); err != nil {
		return nil, fmt.Errorf("Options.BinDir %s: %w", bins, err)
	}
	var karpenterBins string
	if opts.Karpenter != nil {
		info, err := BuildKarpenter(ctx, BuildOptions{Logf: opts.Logf})
		if err != nil {
			return nil, fmt.Errorf("building Karpenter: %w", err)
		}
		karpenterBins = info.Dir
	}
	dir, err := os.MkdirTemp("", "prescaler-testbed-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, opts: opts, bins: bins, karpenterBins: karpenterBins, procs: map[Component]*process{}, keep: opts.KeepDir}
	start := time.Now()
	if err := e.launch(ctx); err != nil {
		e.keepDir()
		_ = e.Stop()
		return nil, fmt.Errorf("%w\n(testbed folder kept: %s)", err, dir)
	}
	opts.Logf("testbed: up in %s: kubeconfig %s, prometheus %s, logs %s",
		time.Since(start).Round(100*time.Millisecond), e.Kubeconfig, orNone(e.PrometheusURL), filepath.Join(dir, "logs"))
	return e, nil
}

func (e *Env) launch(ctx context.Context) error {
	for _, d := range []string{"logs", "kcm", "scheduler", "kwok", "prometheus/data"} { // etcd makes its own, 0700
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			return err
		}
	}
	var err error
	if e.pki, err = newPKI(filepath.Join(e.Dir, "pki")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort, promPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)

	// Kubeconfigs: admin (also used by kwok), kcm, scheduler.
	admin, err := e.pki.client("testbed-admin", "system:masters")
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.Dir, "admin.kubeconfig")
	if e.RESTConfig, err = e.pki.kubeconfig(e.Kubeconfig, server, admin); err != nil {
		return err
	}
	e.RESTConfig.QPS, e.RESTConfig.Burst = 100, 200
	if e.Client, err = kubernetes.NewForConfig(e.RESTConfig); err != nil {
		return err
	}
	kcmKubeconfig := filepath.Join(e.Dir, "kcm.kubeconfig")
	schedKubeconfig := filepath.Join(e.Dir, "scheduler.kubeconfig")
	for _, k := range []struct{ path, user string }{
		{kcmKubeconfig, "system:kube-controller-manager"},
		{schedKubeconfig, "system:kube-scheduler"},
	} {
		c, err := e.pki.client(k.user)
		if err != nil {
			return err
		}
		if _, err := e.pki.kubeconfig(k.path, server, c); err != nil {
			return err
		}
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	e.add(Etcd, []string{
		"--name=testbed",
		"--data-dir=" + filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testbed=" + peerURL,
		"--unsafe-no-fsync=true", // a throwaway store: durability costs seconds per test
		"--log-level=warn",
	}, nil, httpOK(etcdURL+"/health", `"health":"true"`))

	e.add(APIServer, []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + e.pki.servingCert, "--tls-private-key-file=" + e.pki.servingKey,
		"--client-ca-file=" + e.pki.caFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + e.pki.saPub,
		"--service-account-signing-key-file=" + e.pki.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// The aggregation layer, for the fake custom metrics API and any
		// extension API server a test registers.
		"--requestheader-client-ca-file=" + e.pki.frontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + e.pki.frontProxyCert,
		"--proxy-client-key-file=" + e.pki.frontProxyKey,
		// The default reconciler would publish 127.0.0.1 as the endpoint of
		// the kubernetes Service, which Endpoints validation rejects.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--v=1",
	}, nil, e.apiReady)

	controllers := strings.Join(e.opts.Controllers, ",")
	kcmArgs := []string{
		"--kubeconfig=" + kcmKubeconfig,
		"--authentication-kubeconfig=" + kcmKubeconfig,
		"--authorization-kubeconfig=" + kcmKubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort),
		"--cert-dir=" + filepath.Join(e.Dir, "kcm"),
		"--leader-elect=false",
		"--controllers=" + controllers,
		// Like kubeadm: each controller acts as its own service account, so
		// RBAC is exercised as on a real cluster.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + e.pki.saKey,
		"--root-ca-file=" + e.pki.caFile,
		"--horizontal-pod-autoscaler-sync-period=" + e.opts.HPASyncPeriod.String(),
		"--profiling=false",
		"--v=2",
	}
	if d := e.opts.HPADownscaleStabilization; d > 0 {
		kcmArgs = append(kcmArgs, "--horizontal-pod-autoscaler-downscale-stabilization="+d.String())
	}
	if d := e.opts.NodeMonitorGracePeriod; d > 0 {
		kcmArgs = append(kcmArgs, "--node-monitor-grace-period="+d.String())
	}
	e.add(ControllerManager, kcmArgs, nil, httpsOK(kcmPort))

	e.add(Scheduler, []string{
		"--kubeconfig=" + schedKubeconfig,
		"--authentication-kubeconfig=" + schedKubeconfig,
		"--authorization-kubeconfig=" + schedKubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(schedPort),
		"--cert-dir=" + filepath.Join(e.Dir, "scheduler"),
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	}, nil, httpsOK(schedPort))

	stages, err := kwokStageFiles(e.bins)
	if err != nil {
		return err
	}
	if e.opts.DelayedPodReady {
		if stages, err = withDelayedPodReady(stages, filepath.Join(e.Dir, "kwok")); err != nil {
			return err
		}
	}
	if e.opts.JobPodsKeepRunning {
		stages = slices.DeleteFunc(stages, func(s string) bool { return filepath.Base(s) == podCompleteStageFile })
	}
	if k := e.opts.Karpenter; k != nil && k.NodeReadyDelay > 0 {
		if stages, err = withDelayedNodeReady(stages, filepath.Join(e.Dir, "kwok"), k.NodeReadyDelay); err != nil {
			return err
		}
	}
	kwokAddr := "127.0.0.1:" + strconv.Itoa(kwokPort)
	kwokArgs := []string{
		"--kubeconfig=" + e.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-label-selector=" + kwokNodeLabel + "=" + kwokNodeLabelValue,
		"--server-address=" + kwokAddr,
	}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config="+s)
	}
	// kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps a developer's
	// own kwok configuration out of the testbed.
	kwokEnv := append(os.Environ(), "HOME="+filepath.Join(e.Dir, "kwok"))
	e.add(Kwok, kwokArgs, kwokEnv, httpOK("http://"+kwokAddr+"/healthz", ""))

	if e.opts.Karpenter != nil {
		if e.procs[Karpenter], err = e.karpenterProcess(e.karpenterBins, *e.opts.Karpenter); err != nil {
			return err
		}
	}

	if !e.opts.Prometheus.Disabled {
		e.PrometheusURL = "http://127.0.0.1:" + strconv.Itoa(promPort)
		e.promDataDir = filepath.Join(e.Dir, "prometheus", "data")
		e.promTool = filepath.Join(e.bins, "promtool")
		cfg := filepath.Join(e.Dir, "prometheus", "prometheus.yml")
		if err := os.WriteFile(cfg, []byte(prometheusConfig(e.opts.Prometheus, promPort)), 0o644); err != nil {
			return err
		}
		e.add(Prometheus, []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + e.promDataDir,
			"--storage.tsdb.retention.time=" + promDuration(e.opts.Prometheus.Retention),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(promPort),
			"--web.enable-lifecycle",
			"--web.enable-admin-api",
			"--web.enable-remote-write-receiver",
			"--log.level=warn",
		}, nil, httpOK(e.PrometheusURL+"/-/ready", ""))
		if err := e.backfillLocked(ctx, e.opts.Prometheus.History, e.opts.Prometheus.HistoryFile); err != nil {
			return err
		}
	}

	// etcd, then the apiserver; the rest only need the apiserver and start
	// together.
	for _, c := range []Component{Etcd, APIServer} {
		if err := e.startAndWait(ctx, c); err != nil {
			return err
		}
	}
	// Karpenter's readiness check waits for its CRDs to be served.
	if e.opts.Karpenter != nil {
		if err := e.installKarpenterCRDs(ctx, filepath.Join(e.karpenterBins, karpenterTool.configDir)); err != nil {
			return fmt.Errorf("Karpenter's CRDs: %w", err)
		}
	}
	var rest []Component
	for _, c := range startOrder[2:] {
		if e.procs[c] != nil {
			rest = append(rest, c)
			if err := e.procs[c].start(); err != nil {
				return err
			}
		}
	}
	errs := make([]error, len(rest))
	var wg sync.WaitGroup
	for i, c := range rest {
		wg.Go(func() { errs[i] = e.procs[c].waitReady(ctx, e.opts.StartTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if e.opts.PodMetrics != nil {
		if err := e.startCustomMetrics(ctx, e.opts.PodMetrics); err != nil {
			return fmt.Errorf("custom metrics API: %w", err)
		}
	}
	if e.opts.Karpenter != nil {
		untaintCtx, cancel := context.WithCancel(context.Background())
		e.stopUntaint = cancel
		go e.untaintBootedNodes(untaintCtx)
	}
	return nil
}

// add registers a component; extra args from Options come last so they win.
func (e *Env) add(c Component, args, env []string, ready func(context.Context) error) {
	e.procs[c] = &process{
		name:    c,
		bin:     filepath.Join(e.bins, string(c)),
		args:    append(args, e.opts.ExtraArgs[c]...),
		env:     env,
		logPath: filepath.Join(e.Dir, "logs", string(c)+".log"),
		ready:   ready,
	}
}

func (e *Env) startAndWait(ctx context.Context, c Component) error {
	p := e.procs[c]
	if err := p.start(); err != nil {
		return err
	}
	return p.waitReady(ctx, e.opts.StartTimeout)
}

// StopComponent stops one component (SIGTERM, SIGKILL after 10s) for a fault
// test. Stopping a stopped component is a no-op.
func (e *Env) StopComponent(c Component) error {
	p, err := e.proc(c)
	if err != nil {
		return err
	}
	if c == Prometheus {
		e.promMu.Lock()
		defer e.promMu.Unlock()
	}
	p.stop(10 * time.Second)
	return nil
}

// StartComponent starts a stopped component again, with the same ports, data
// and flags, and waits until it is ready.
func (e *Env) StartComponent(ctx context.Context, c Component) error {
	p, err := e.proc(c)
	if err != nil {
		return err
	}
	if c == Prometheus {
		e.promMu.Lock()
		defer e.promMu.Unlock()
	}
	if p.running() {
		return fmt.Errorf("testbed: %s is already running", c)
	}
	if err := p.start(); err != nil {
		return err
	}
	return p.waitReady(ctx, e.opts.StartTimeout)
}

// RestartComponent stops and starts a component (e.g. APIServer: clients see
// connection errors, then the same cluster state).
func (e *Env) RestartComponent(ctx context.Context, c Component) error {
	if err := e.StopComponent(c); err != nil {
		return err
	}
	return e.StartComponent(ctx, c)
}

// Running reports whether a component is running.
func (e *Env) Running(c Component) bool {
	p, err := e.proc(c)
	return err == nil && p.running()
}

// Binary is the path of one of the testbed's binaries by name (kubectl,
// helm, ...).
func (e *Env) Binary(name string) string { return filepath.Join(e.bins, name) }

// LogPath returns the path of a component's log file (stdout and stderr of
// every run).
func (e *Env) LogPath(c Component) string {
	return filepath.Join(e.Dir, "logs", string(c)+".log")
}

func (e *Env) proc(c Component) (*process, error) {
	p := e.procs[c]
	if p == nil {
		return nil, fmt.Errorf("testbed: no component %q in this testbed", c)
	}
	return p, nil
}

// Stop stops every component (in reverse start order, each process group
// SIGTERMed, SIGKILLed after 10s, and reaped), checks that none of their
// processes is left, and removes Dir unless it is kept. It is idempotent and
// safe to call on a testbed that failed to start.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		if e.stopUntaint != nil {
			e.stopUntaint()
		}
		var errs []error
		if err := e.stopCustomMetrics(); err != nil {
			errs = append(errs, err)
		}
		for _, c := range slices.Backward(startOrder) {
			if p := e.procs[c]; p != nil {
				p.stop(10 * time.Second)
			}
		}
		for _, c := range startOrder {
			if p := e.procs[c]; p != nil {
				if live := p.livePIDs(); len(live) > 0 {
					errs = append(errs, fmt.Errorf("%s: processes %v still exist after stop", c, live))
				}
			}
		}
		e.keepMu.Lock()
		keep := e.keep
		e.keepMu.Unlock()
		if keep {
			e.opts.Logf("testbed: stopped; folder kept: %s", e.Dir)
		} else if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, err)
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

// PIDs returns the pids of every process the testbed ever started (restarts
// included), for leak checks.
func (e *Env) PIDs() []int {
	var pids []int
	for _, c := range startOrder {
		if p := e.procs[c]; p != nil {
			p.mu.Lock()
			pids = append(pids, p.pids...)
			p.mu.Unlock()
		}
	}
	return pids
}

func (e *Env) keepDir() {
	e.keepMu.Lock()
	e.keep = true
	e.keepMu.Unlock()
}

// dumpLogs prints the tail of every component log.
func (e *Env) dumpLogs(logf func(string, ...any)) {
	for _, c := range startOrder {
		if e.procs[c] != nil {
			logf("testbed: %s log (%s) ends:\n%s", c, e.LogPath(c), tail(e.LogPath(c), 40))
		}
	}
}

// apiReady checks the apiserver's /readyz with the admin identity.
func (e *Env) apiReady(ctx context.Context) error {
	body, err := e.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz: %s", body)
	}
	return nil
}

// httpOK checks that url answers 200 (and that the body contains want).
func httpOK(url, want string) func(context.Context) error {
	return func(ctx context.Context) error { return get(ctx, http.DefaultClient, url, want) }
}

// httpsOK checks a component's /healthz on its self-signed secure port.
func httpsOK(port int) func(context.Context) error {
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed by the component itself
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	return func(ctx context.Context) error { return get(ctx, client, url, "ok") }
}

func get(ctx context.Context, client *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b.String())
	}
	if want != "" && !strings.Contains(b.String(), want) {
		return fmt.Errorf("GET %s: body %q lacks %q", url, b.String(), want)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}
