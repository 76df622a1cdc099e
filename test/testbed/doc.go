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
// etcd, kwok, prometheus), so their dependency graphs never meet each other
// or prescaler's. The kube tools module requires k8s.io/kubernetes and
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
// Running and Ready at once.
//
// Prometheus keeps data for Options.Prometheus.Retention (ten years by
// default, so backfilled history survives) and has the admin API, lifecycle
// API and remote-write receiver enabled. History is written as OpenMetrics
// and turned into TSDB blocks by `promtool tsdb create-blocks-from
// openmetrics` before Prometheus starts (Options.Prometheus.History) or
// while it is stopped (Env.BackfillPrometheus).
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
