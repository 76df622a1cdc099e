// Package testbed runs prescaler's test control plane: real etcd,
// kube-apiserver, kube-controller-manager (with its HPA, Deployment and
// ReplicaSet controllers) and kube-scheduler, kwok for fake GPU nodes, and a
// real Prometheus, all on 127.0.0.1 with free ports and a temporary folder.
// Integration tests, e2e tests and demos use it:
//
//	env := testbed.Start(t, testbed.Options{})
//	env.AddNode(ctx, testbed.GPUNode("gpu-a", 4))
//	env.Client.AppsV1().Deployments(ns).Create(...)
//
// # Binaries
//
// The binaries are built from source with the go command, once, by Build:
// each upstream project has its own tools module under test/tools (kube,
// etcd, kwok, prometheus, and helm, which deploy/'s tests run on the chart),
// so their dependency graphs never meet each other or prescaler's. The kube tools module requires k8s.io/kubernetes and
// replaces every k8s.io staging module it lists with the published v0.x tag.
// The result is cached in $HOME/.cache/prescaler/<key>/bin (os.UserCacheDir),
// where the key names every tool version and the Go version and ends in a
// hash of the tools modules' go.mod and go.sum files, so any version change
// builds afresh. A file lock serialises concurrent builders (parallel test
// packages). `make testbed` (part of `make test`) or
// `go run ./test/testbed/cmd/testbed build` prebuilds; Start builds whatever
// is missing, but a cold build (20-25 minutes on 2 cores, about half of it
// kube-apiserver, kube-controller-manager and kube-scheduler) would outlast
// go test's default 10-minute timeout, so Start fails fast with that advice
// when the test deadline is too close. PRESCALER_TESTBED_BIN=/dir uses a
// folder of prebuilt binaries (the layout Build writes, with kwok-stages/)
// and builds nothing.
//
// # Wiring
//
// Start generates a CA (crypto/x509) that signs the apiserver's serving
// certificate and client certificates for an admin (system:masters),
// kube-controller-manager and kube-scheduler, as kubeadm does, plus a
// service-account signing key. Authorization is RBAC; the controller manager
// runs with --use-service-account-credentials, so each controller acts under
// its own bootstrap role. Leader election is off; the HPA sync period is
// Options.HPASyncPeriod (1s by default).
//
// No resource metrics API (metrics.k8s.io, i.e. metrics-server) is served:
// an HPA on CPU or memory reports ScalingActive=False (it cannot read its
// metric) but still enforces minReplicas and maxReplicas, which is what
// prescaler writes. With Options.PodMetrics set, the test process serves a
// fake custom.metrics.k8s.io/v1beta2 and registers it as an APIService (its
// Service is an ExternalName for localhost, since EndpointSlices may not hold
// loopback addresses), so HPAs with Pods metrics (queue depth, in-flight
// requests) read the values the test chooses.
//
// kwok manages the nodes carrying the label kwok.x-k8s.io/node=fake
// (AddNode sets it) with kwok's own "fast" node, "heartbeat" node and "fast"
// pod stages: nodes become Ready and heartbeat every 20-45s, bound pods become
// Running and Ready at once. With Options.DelayedPodReady, a pod annotated
// with PodReadyDelayAnnotation ("20s") becomes Ready that long after it is
// bound instead, so start-up time can be part of a test or a demo.
//
// Prometheus keeps data for Options.Prometheus.Retention (ten years by
// default, so backfilled history survives) and has the admin API, lifecycle
// API and remote-write receiver enabled. History is written as OpenMetrics
// and turned into TSDB blocks by `promtool tsdb create-blocks-from
// openmetrics` before Prometheus starts (Options.Prometheus.History) or
// while it is stopped (Env.BackfillPrometheus).
//
// # KEDA (optional)
//
// Env.StartKEDA runs the real KEDA operator (keda-operator, from
// github.com/kedacore/keda/v2 at the version test/tools/keda pins) against
// the testbed, so a test can watch KEDA turn a ScaledObject's
// spec.minReplicaCount into its HPA's minReplicas (keda-hpa-<name>). It
// installs what KEDA's manifests install: every KEDA CRD (ScaledObject,
// ScaledJob, TriggerAuthentication, ClusterTriggerAuthentication,
// CloudEventSource, ClusterCloudEventSource), the keda namespace, the
// keda-operator service account and KEDA's own ClusterRole, Role and
// bindings; the operator authenticates with a client certificate for that
// service account's user and groups, so it runs with exactly the RBAC of a
// real install. Leader election, certificate rotation and the metrics
// endpoint are off, its probe and gRPC ports are free loopback ports, and
// its gRPC certificates come from the testbed's CA. Only the operator runs:
// no metrics adapter (KEDA's HPAs cannot read their External metrics but
// enforce their bounds, as above) and no admission webhooks. Stop stops it
// with the rest; its log is Dir/logs/keda-operator.log.
//
// Its binary is not part of Build, so the testbed's cold build does not
// grow: KEDA's go.mod pulls every scaler's SDK (cloud providers, databases,
// queues), about 1.9 GB of modules to download. Only the cron, CPU and
// memory scalers are compiled in (the testbed's ScaledObjects use cron; see
// packageTrim): about 9 CPU-minutes, 5 minutes of wall time on 2 idle cores,
// and a 72 MB binary, where the whole operator is 5.1 million lines of Go
// and 178 MB. BuildKEDA builds it on demand into its own cache
// folder, $HOME/.cache/prescaler/keda-<version>_<go>_<hash>/bin, with the
// same lock and atomic rename, and copies KEDA's CRD and RBAC manifests
// beside it (keda-config/), so the folder is self-contained. `make
// testbed-keda` (part of `make test`) or `go run ./test/testbed/cmd/testbed
// build -with keda` builds it (seconds once the Go build cache is warm).
// Tests that need it call RequireKEDA first, which goes by
// PRESCALER_TESTBED_KEDA and never by the clock: unset, they run when the
// operator is built and skip, naming the command that builds it, when it is
// not; "require" (which `make test` sets) fails them when it is not built,
// so CI cannot pass without them; "on" builds a missing operator in the
// test; "off" skips them; -short skips them too. A PRESCALER_TESTBED_BIN
// folder that also holds keda-operator and keda-config/ is used as is.
//
// # Processes
//
// Every component runs in its own process group, with Pdeathsig so the kernel
// kills it if the test binary dies, and its stdout and stderr appended to
// Dir/logs/<component>.log. Stop (registered with t.Cleanup, idempotent)
// SIGTERMs each group, SIGKILLs it after 10s, reaps it and reports any pid
// that survived; it removes Dir unless the test failed (then the tail of
// every log is printed and Dir kept), Options.KeepDir is set or
// PRESCALER_TESTBED_KEEP=1.
package testbed
