// Package config is prescaler's configuration: a typed struct, its defaults,
// loading from YAML with PRESCALER_* environment overrides, and one Validate
// that reports every problem with the field path and the bad value.
//
// viper is used only inside this package. The rest of prescaler receives a
// *Config and never sees where a value came from. The key names are the yaml
// struct tags; the decoder reads them too, so one tag names a field in the
// file, in --print output and in error messages.
package config

import "time"

// Config is the whole prescaler configuration.
type Config struct {
	// Interval is the control loop period.
	Interval Duration `yaml:"interval"`
	// Prometheus is where demand, queue depth, latency and GPU utilization are read.
	Prometheus Prometheus `yaml:"prometheus"`
	// LeaderElection lets several replicas of prescaler run with one writer.
	LeaderElection LeaderElection `yaml:"leaderElection"`
	// Server serves /metrics, /healthz and /readyz.
	Server Server `yaml:"server"`
	// Targets are the workloads whose floors prescaler manages.
	Targets []Target `yaml:"targets"`
	// Discovery adds the HPAs and ScaledObjects that opt in by annotation.
	Discovery Discovery `yaml:"discovery"`
	// Checkpoint saves the targets' forecasters to a file, so a restart
	// reads only the steps since from Prometheus instead of every history.
	Checkpoint Checkpoint `yaml:"checkpoint"`
}

// Checkpoint configures the file of the targets' forecaster state.
type Checkpoint struct {
	// Path is the file; empty turns checkpoints off.
	Path string `yaml:"path"`
	// Interval is how often the leader writes the file (and once more at a
	// graceful shutdown).
	Interval Duration `yaml:"interval"`
}

// Prometheus is the connection to the Prometheus HTTP API.
type Prometheus struct {
	// URL is the base URL of the Prometheus API (without /api/v1).
	URL string `yaml:"url"`
	// Timeout bounds each query.
	Timeout Duration `yaml:"timeout"`
	// BearerTokenFile, when set, is read for an Authorization: Bearer header.
	BearerTokenFile string `yaml:"bearerTokenFile"`
	// BasicAuth, when set, authenticates with HTTP basic auth.
	BasicAuth BasicAuth `yaml:"basicAuth"`
	// TLS configures the client side of an https connection.
	TLS TLS `yaml:"tls"`
}

// BasicAuth is HTTP basic authentication with the password kept in a file
// (typically a mounted Secret), never in the config itself.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"passwordFile"`
}

// TLS is the client TLS configuration for Prometheus.
type TLS struct {
	// CAFile verifies the server certificate instead of the system roots.
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerName overrides the name checked against the server certificate.
	ServerName string `yaml:"serverName"`
	// InsecureSkipVerify disables server certificate checks (testing only).
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

// LeaderElection configures the Lease that elects the one replica that writes.
type LeaderElection struct {
	Enabled bool `yaml:"enabled"`
	// Namespace holds the Lease; empty means the pod's own namespace.
	Namespace     string   `yaml:"namespace"`
	LeaseName     string   `yaml:"leaseName"`
	LeaseDuration Duration `yaml:"leaseDuration"`
	RenewDeadline Duration `yaml:"renewDeadline"`
	RetryPeriod   Duration `yaml:"retryPeriod"`
}

// Server is the HTTP server for metrics and probes.
type Server struct {
	// Address is the listen address, host:port (":8080" listens on all interfaces).
	Address string `yaml:"address"`
}

// Target is one workload: where its signals come from, how its demand is
// forecast and which HPA or KEDA ScaledObject receives the floor.
type Target struct {
	// Name identifies the target in logs and metric labels; a DNS-1123 label.
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	// HPA is the HorizontalPodAutoscaler whose spec.minReplicas and
	// spec.behavior are written. Exactly one of HPA and ScaledObject is set.
	HPA string `yaml:"hpa"`
	// ScaledObject is the KEDA ScaledObject whose spec.minReplicaCount is written.
	ScaledObject string  `yaml:"scaledObject"`
	Mode         Mode    `yaml:"mode"`
	Queries      Queries `yaml:"queries"`
	// ReplicaCapacity converts forecast demand into replicas.
	ReplicaCapacity ReplicaCapacity `yaml:"replicaCapacity"`
	// FallbackReplicaCapacity is used while an "auto" capacity has not been
	// learned yet; required with "auto", ignored otherwise.
	FallbackReplicaCapacity float64   `yaml:"fallbackReplicaCapacity"`
	SLO                     SLO       `yaml:"slo"`
	Forecast                Forecast  `yaml:"forecast"`
	LeadTime                LeadTime  `yaml:"leadTime"`
	Bounds                  Bounds    `yaml:"bounds"`
	ScaleDown               ScaleDown `yaml:"scaleDown"`
	Demotion                Demotion  `yaml:"demotion"`
	Tuning                  Tuning    `yaml:"tuning"`
	// Nodes says how the target's nodes are added and whether the floor
	// asks for them ahead of a forecast peak.
	Nodes Nodes `yaml:"nodes"`
}

// Tuning configures the replay that chooses a target's headroom for
// slo.overloadBudget: the simulated HPA stands for the target's own.
type Tuning struct {
	// Every is how often the headroom is chosen again.
	Every Duration `yaml:"every"`
	// HPATargetUtilization is the HPA's utilization target, in (0, 1], as
	// the replay models it (prescaler never edits the HPA's metrics).
	HPATargetUtilization float64 `yaml:"hpaTargetUtilization"`
	// HPAQueueTarget is the HPA's per-pod queue-depth target as the replay
	// models it; 0 for none.
	HPAQueueTarget float64 `yaml:"hpaQueueTarget"`
}

// Queries are the PromQL expressions read for a target. Each must return a
// single series (an instant vector of one element or a scalar).
type Queries struct {
	// Demand is required: the load the floor is sized for, in the unit
	// ReplicaCapacity uses (for example requests per minute).
	Demand string `yaml:"demand"`
	// QueueDepth is the number of requests waiting (optional).
	QueueDepth string `yaml:"queueDepth"`
	// Latency is the observed latency in seconds (optional).
	Latency string `yaml:"latency"`
	// GPUUtilization is the mean GPU utilization as a fraction 0..1 (optional).
	GPUUtilization string `yaml:"gpuUtilization"`
}

// SLO is the service level a replica must keep; an "auto" ReplicaCapacity is
// the demand a replica serves while it holds.
type SLO struct {
	// Latency is the latency objective; 0 means none.
	Latency Duration `yaml:"latency"`
	// GPUUtilizationCeiling is the GPU utilization (0..1] above which a
	// replica counts as saturated.
	GPUUtilizationCeiling float64 `yaml:"gpuUtilizationCeiling"`
	// LearnWindow is how far back observations count when an "auto"
	// ReplicaCapacity is learned.
	LearnWindow Duration `yaml:"learnWindow"`
	// OverloadBudget is the overloaded minutes per day the target
	// tolerates; when set, prescaler chooses the target's headroom (the
	// forecast quantile and floor utilization) by replaying its own history
	// (see Tuning). 0 leaves forecast.quantile and floorUtilization as
	// configured.
	OverloadBudget Duration `yaml:"overloadBudget"`
}

// Demotion hands a target back to the HPA alone while its forecast is poor.
type Demotion struct {
	// Enabled turns automatic demotion and promotion on.
	Enabled bool `yaml:"enabled"`
	// Window is how far back forecast errors are scored.
	Window Duration `yaml:"window"`
	// ErrorAbove demotes when the lead-time forecast's weighted absolute
	// percentage error over the window exceeds it.
	ErrorAbove float64 `yaml:"errorAbove"`
	// RecoverBelow promotes again when the error falls below it.
	RecoverBelow float64 `yaml:"recoverBelow"`
	// ShortAbove demotes when the share of the window's loops in which the
	// latency objective was breached while the floor was below the HPA's
	// desired replicas exceeds it; 0 disables this signal.
	ShortAbove float64 `yaml:"shortAbove"`
}

// Forecast configures the Holt-Winters model of a target's demand.
type Forecast struct {
	// Step is the model's time step; the demand series is sampled at it.
	Step Duration `yaml:"step"`
	// Season is the primary season (a whole number of steps); 0 disables seasonality.
	Season Duration `yaml:"season"`
	// Season2 is an optional second season (Taylor's double-seasonal
	// Holt-Winters), a whole multiple of Season; 0 disables it.
	Season2 Duration `yaml:"season2"`
	// History is the window read from Prometheus to fit the model.
	History Duration `yaml:"history"`
	// Refit is how often the model parameters are re-estimated.
	Refit Duration `yaml:"refit"`
	// Quantile is the demand quantile the floor covers, in (0, 1).
	Quantile float64 `yaml:"quantile"`
	// FloorUtilization is the fraction of replicaCapacity the floor plans
	// each replica for, in (0, 1]; 1 sizes the floor at full capacity and
	// leaves the margin above it to the quantile and to the HPA's own target.
	FloorUtilization float64 `yaml:"floorUtilization"`
	// Interval is the coverage of the central prediction interval exported
	// as a metric, in (0, 1).
	Interval float64 `yaml:"interval"`
}

// Bounds limit the floor prescaler writes.
type Bounds struct {
	// MinReplicas is the lowest floor written; 0 means the user's own
	// minReplicas (the value in the HPA before prescaler raised it).
	MinReplicas int32 `yaml:"minReplicas"`
	// MaxReplicas is the highest floor written; 0 means the HPA's maxReplicas.
	MaxReplicas int32 `yaml:"maxReplicas"`
}

// ScaleDown limits how fast prescaler lowers a floor it raised.
type ScaleDown struct {
	// Stabilization is the scale-down guard: the floor comes down only to
	// what the forecast covers over the lead time plus this window.
	Stabilization Duration `yaml:"stabilization"`
	// MaxStepPercent is the largest cut of the floor per write, in percent of
	// the current floor, in (0, 100].
	MaxStepPercent int32 `yaml:"maxStepPercent"`
	// Troughs cuts the HPA's scale-down stabilization to the lead time while
	// the forecast needs fewer replicas than run, so the HPA lets go of them
	// sooner.
	Troughs bool `yaml:"troughs"`
}

// Kinds of object a target writes its floor to.
const (
	KindHPA          = "HorizontalPodAutoscaler"
	KindScaledObject = "ScaledObject"
)

// ObjectRef names the Kubernetes object that receives a target's floor.
type ObjectRef struct {
	Kind      string
	Namespace string
	Name      string
}

// String returns "Kind namespace/name".
func (r ObjectRef) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// Object returns the HPA or ScaledObject the target writes to. On a config
// that has not passed Validate, an HPA name wins over a ScaledObject name.
func (t *Target) Object() ObjectRef {
	if t.HPA == "" && t.ScaledObject != "" {
		return ObjectRef{Kind: KindScaledObject, Namespace: t.Namespace, Name: t.ScaledObject}
	}
	return ObjectRef{Kind: KindHPA, Namespace: t.Namespace, Name: t.HPA}
}

// Default returns the configuration used for every key the file and the
// environment leave out. It has no targets, so it does not pass Validate alone.
func Default() *Config {
	return &Config{
		Interval: Duration(15 * time.Second),
		Prometheus: Prometheus{
			URL:     "http://prometheus-operated.monitoring.svc:9090",
			Timeout: Duration(10 * time.Second),
		},
		LeaderElection: LeaderElection{
			Enabled:       true,
			LeaseName:     "prescaler",
			LeaseDuration: Duration(15 * time.Second),
			RenewDeadline: Duration(10 * time.Second),
			RetryPeriod:   Duration(2 * time.Second),
		},
		Server:     Server{Address: ":8080"},
		Discovery:  Discovery{Target: DefaultTarget()},
		Checkpoint: Checkpoint{Interval: Duration(5 * time.Minute)},
	}
}

// DefaultTarget returns the values a target gets for every key it leaves out.
// Name, namespace, hpa or scaledObject, queries.demand and replicaCapacity
// have no default.
func DefaultTarget() Target {
	const day = 24 * time.Hour
	return Target{
		Mode: ModeActive,
		SLO:  SLO{GPUUtilizationCeiling: 0.9, LearnWindow: Duration(6 * time.Hour)},
		Forecast: Forecast{
			Step:             Duration(time.Minute),
			Season:           Duration(day),
			History:          Duration(14 * day),
			Refit:            Duration(day),
			Quantile:         0.9,
			FloorUtilization: 1,
			Interval:         0.8,
		},
		LeadTime:  LeadTime{Auto: true},
		ScaleDown: ScaleDown{Stabilization: Duration(5 * time.Minute), MaxStepPercent: 20},
		Demotion: Demotion{Enabled: true, Window: Duration(3 * time.Hour), ErrorAbove: 0.5, RecoverBelow: 0.3,
			ShortAbove: 0.2},
		Tuning: Tuning{Every: Duration(day), HPATargetUtilization: 0.7, HPAQueueTarget: 5},
		Nodes:  defaultNodes(),
	}
}
