package deploy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/prescaler/prescaler/internal/freeport"
	"github.com/prescaler/prescaler/test/testbed"
)

// The install's RBAC on the real control plane, for each of the four
// installs in turn: kustomize's cluster-wide and namespace-scoped ones, and
// the Helm chart rendered with its defaults and with rbac.namespaced (every
// object server-side applied: the RBAC ones for real, the others with dry
// run). The prescaler binary runs with the Deployment's own arguments and
// nothing but its ServiceAccount's token (leader election on, the Lease in
// its own namespace): it leads, writes the floor and records Events, and
// nothing it or client-go logs is forbidden. Secrets, Deployment writes and,
// in the namespace-scoped installs, other namespaces are refused by real
// calls with the same token.
//
// It runs the binary rather than the runner in process: the runner's
// package links the NVML agent, whose lazily bound symbols cannot share a
// test binary with kustomize (which imports package plugin, so the linker
// binds every symbol at start).
func TestRBACInstallsRunPrescaler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	bin := buildPrescaler(t)
	env, ctx := startWorld(t)
	cfgPath, metricsURL := writeConfig(t, env.PrometheusURL)
	admin := newApplier(t, env)

	otherHPA(ctx, t, env.Client)
	// The chart as `helm install prescaler deploy/helm/prescaler -n
	// prescaler --create-namespace` renders it, plus that namespace.
	var chart, chartNamespaced []*unstructured.Unstructured
	if !t.Run("render the chart", func(t *testing.T) {
		h := newHelm(t)
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": "prescaler"}}}
		chart = append([]*unstructured.Unstructured{ns}, h.template(t)...)
		chartNamespaced = append([]*unstructured.Unstructured{ns}, h.template(t, fullValues()...)...)
	}) {
		t.FailNow()
	}
	// Without the Prometheus Operator's CRDs on the testbed: the chart's
	// monitors are left out, as on such a cluster.
	chartNamespaced = slices.DeleteFunc(chartNamespaced, func(o *unstructured.Unstructured) bool {
		return o.GroupVersionKind().Group == "monitoring.coreos.com"
	})

	for _, c := range []struct {
		name       string
		objs       []*unstructured.Unstructured
		namespaced bool
	}{
		{"kustomize cluster-wide", render(t, "."), false},
		{"kustomize namespaced", render(t, "namespaced"), true},
		{"chart cluster-wide", chart, false},
		{"chart namespaced", chartNamespaced, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			admin.apply(ctx, t, c.objs)
			kubeconfig, sa := serviceAccountClient(ctx, t, env)
			// A deleted or new binding reaches the authorizer's cache within
			// moments: wait until the targets' grant has its scope.
			testbed.WaitFor(ctx, t, "another namespace's HPA to be in or out of reach", func() (bool, error) {
				_, err := sa.AutoscalingV2().HorizontalPodAutoscalers("other").Get(ctx, "other-hpa", metav1.GetOptions{})
				if c.namespaced {
					return apierrors.IsForbidden(err), err
				}
				return err == nil, err
			})
			if c.namespaced {
				expectNamespaced(ctx, t, sa)
			}
			// The user's values back (as the admin), so that each run has a
			// floor to write again.
			if out, err := exec.CommandContext(ctx, bin, "restore", "--kubeconfig", env.Kubeconfig, "--config", cfgPath).CombinedOutput(); err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			runPrescaler(ctx, t, env, prescalerArgs(t, c.objs, bin, cfgPath, kubeconfig), metricsURL)
			expectDenied(ctx, t, env, sa)
		})
	}
}

// buildPrescaler builds the binary the image would hold. -trimpath as the
// Dockerfile's build: the compiled packages are then shared with
// TestImageBuildCheck's builds instead of compiled a second time.
func buildPrescaler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prescaler")
	out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/prescaler/prescaler/cmd/prescaler").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startWorld is the seed's world: two days of about 600 requests per minute
// in Prometheus (12 replicas at 50 each), the ai-inference Deployment (one
// GPU per pod) behind inference-hpa (min 1, max 20), and two 4-GPU nodes, so
// prescaler's floor stops at 8.
func startWorld(t *testing.T) (*testbed.Env, context.Context) {
	t.Helper()
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 600 })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if err := env.AddGPUNodes(ctx, 4, "gpu-a", "gpu-b"); err != nil {
		t.Fatal(err)
	}
	seed(ctx, t, env.Client)
	return env, ctx
}

func seed(ctx context.Context, t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	if err := (testbed.Seed{}).Create(ctx, kube); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a config that elects a leader in the pod's namespace
// (leaderElection.namespace "", so POD_NAMESPACE) with the default Lease
// name the Role allows, and serves metrics on a free port.
func writeConfig(t *testing.T, promURL string) (path, metricsURL string) {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "config.yaml")
	text := fmt.Sprintf(`
interval: 1s
prometheus: {url: %q}
leaderElection: {enabled: true, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}
server: {address: %q}
targets:
  - {name: ai-inference, namespace: default, hpa: inference-hpa, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, promURL, addr)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, "http://" + addr + "/metrics"
}

// prescalerArgs is the command line of the rendered Deployment's container,
// with the test's config file and kubeconfig.
func prescalerArgs(t *testing.T, objs []*unstructured.Unstructured, bin, cfgPath, kubeconfig string) []string {
	t.Helper()
	args := slices.Clone(deployment(t, objs).Spec.Template.Spec.Containers[0].Args)
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--config=") })
	if i < 0 {
		t.Fatalf("the Deployment's args %v have no --config=", args)
	}
	args[i] = "--config=" + cfgPath
	return append([]string{bin}, append(args, "--kubeconfig="+kubeconfig, "--scrape-lag=0s")...)
}

// applier server-side applies a rendering as the admin (the RBAC part for
// real, the rest with dry run), and deletes what the previous rendering had and this one lacks, as a user
// switching installs must (kubectl apply -k does not prune).
type applier struct {
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	applied map[string]*unstructured.Unstructured
}

// rbacKinds are what the test stores; the rest (the Deployment and the
// DaemonSet, whose pods the kwok nodes would only pretend to run, the
// ConfigMap, Service, PodDisruptionBudget and NetworkPolicy) is applied with
// dry run: validated by the API server against its schema and admission.
var rbacKinds = []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

func newApplier(t *testing.T, env *testbed.Env) *applier {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.Client.Discovery()))
	return &applier{dyn: dyn, mapper: mapper}
}

func (a *applier) apply(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	now := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		opts := metav1.ApplyOptions{FieldManager: "rbac-e2e", Force: true}
		if slices.Contains(rbacKinds, o.GetKind()) {
			now[id] = o
		} else {
			// Validated by the API server against its schema, not stored.
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := a.resource(t, o).Apply(ctx, o.GetName(), o, opts); err != nil {
			t.Fatalf("apply %s: %v", id, err)
		}
	}
	for id, o := range a.applied {
		if _, ok := now[id]; !ok {
			if err := a.resource(t, o).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete %s: %v", id, err)
			}
		}
	}
	a.applied = now
}

func (a *applier) resource(t *testing.T, o *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s: %v", gvk, err)
	}
	if o.GetNamespace() == "" {
		return a.dyn.Resource(m.Resource)
	}
	return a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
}

// serviceAccountClient returns a kubeconfig file and a client that
// authenticate with a TokenRequest token of prescaler's ServiceAccount alone:
// no client certificate.
func serviceAccountClient(ctx context.Context, t *testing.T, env *testbed.Env) (string, kubernetes.Interface) {
	t.Helper()
	hour := int64(3600)
	tr, err := env.Client.CoreV1().ServiceAccounts("prescaler").CreateToken(ctx, "prescaler",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testbed"] = &clientcmdapi.Cluster{Server: env.RESTConfig.Host, CertificateAuthorityData: env.RESTConfig.CAData}
	kc.AuthInfos["prescaler"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["prescaler"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "prescaler"}
	kc.CurrentContext = "prescaler"
	path := filepath.Join(t.TempDir(), "prescaler.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CertData) > 0 || cfg.CertFile != "" || cfg.BearerToken == "" {
		t.Fatal("the ServiceAccount's config must carry its token and no client certificate")
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return path, sa
}

// runPrescaler runs the command line until prescaler holds the Lease, has
// looped, written the floor of 8 and recorded an Event, then stops it with
// SIGTERM. Nothing may have been forbidden: no target or write error, and no
// line of its output (its logs and client-go's) says so.
func runPrescaler(ctx context.Context, t *testing.T, env *testbed.Env, args []string, metricsURL string) {
	t.Helper()
	// Seconds normally; a run stuck on a refused informer fails in time.
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	start := time.Now().Truncate(time.Second)
	var out syncBuffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "POD_NAMESPACE=prescaler") // the Deployment's downward API
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prescaler's output:\n%s", out.String())
		}
	}()

	testbed.WaitFor(ctx, t, "prescaler to hold the Lease", func() (bool, error) {
		l, err := env.Client.CoordinationV1().Leases("prescaler").Get(ctx, "prescaler", metav1.GetOptions{})
		return err == nil && holder(l) != "", err
	})
	testbed.WaitFor(ctx, t, "the floor of 8 on inference-hpa", func() (bool, error) {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		return err == nil && *hpa.Spec.MinReplicas == 8, err
	})
	testbed.WaitFor(ctx, t, "an Event on inference-hpa", func() (bool, error) { return eventSince(ctx, env.Client, start) })
	m, err := scrape(ctx, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	if m["prescaler_loop_duration_seconds"] == 0 {
		t.Error("no loop counted in prescaler_loop_duration_seconds")
	}
	for _, name := range []string{"prescaler_target_errors_total", "prescaler_write_errors_total"} {
		if m[name] != 0 {
			t.Errorf("%s = %v", name, m[name])
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("prescaler exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("prescaler did not exit within 15s of SIGTERM")
	}
	if strings.Contains(strings.ToLower(out.String()), "forbidden") {
		t.Error("prescaler's output mentions a forbidden call")
	}
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// scrape sums each metric family of the exposition at url: counters'
// values, histograms' sample counts.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	sums := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			sums[name] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sums, nil
}

// eventSince reports an Event from prescaler on inference-hpa created or
// repeated at or after since.
func eventSince(ctx context.Context, kube kubernetes.Interface, since time.Time) (bool, error) {
	evs, err := kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=inference-hpa"})
	if err != nil {
		return false, err
	}
	for _, e := range evs.Items {
		if e.Source.Component == "prescaler" && !e.LastTimestamp.Time.Before(since) {
			return true, nil
		}
	}
	return false, nil
}

// expectDenied makes, with the ServiceAccount's token, calls that no install
// grants: the authorizer must refuse each.
func expectDenied(ctx context.Context, t *testing.T, env *testbed.Env, sa kubernetes.Interface) {
	t.Helper()
	dep, err := env.Client.AppsV1().Deployments("default").Get(ctx, "ai-inference", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deps, hpas := sa.AppsV1().Deployments("default"), sa.AutoscalingV2().HorizontalPodAutoscalers("default")
	replicas := []byte(`{"spec":{"replicas":3}}`)
	expectForbidden(t, map[string]error{
		"get a Secret":               errOf(sa.CoreV1().Secrets("default").Get(ctx, "any", metav1.GetOptions{})),
		"list Secrets everywhere":    errOf(sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})),
		"list Secrets in prescaler":  errOf(sa.CoreV1().Secrets("prescaler").List(ctx, metav1.ListOptions{})),
		"list ConfigMaps":            errOf(sa.CoreV1().ConfigMaps("prescaler").List(ctx, metav1.ListOptions{})),
		"get a Deployment":           errOf(deps.Get(ctx, dep.Name, metav1.GetOptions{})),
		"patch a Deployment":         errOf(deps.Patch(ctx, dep.Name, types.MergePatchType, replicas, metav1.PatchOptions{})),
		"update a Deployment":        errOf(deps.Update(ctx, dep, metav1.UpdateOptions{})),
		"delete a Deployment":        deps.Delete(ctx, dep.Name, metav1.DeleteOptions{}),
		"patch a Deployment's scale": errOf(deps.Patch(ctx, dep.Name, types.MergePatchType, replicas, metav1.PatchOptions{}, "scale")),
		"update an HPA":              errOf(hpas.Update(ctx, hpa, metav1.UpdateOptions{})),
		"delete an HPA":              hpas.Delete(ctx, hpa.Name, metav1.DeleteOptions{}),
		"create an HPA":              errOf(hpas.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})),
		"delete pods":                sa.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"create a Lease elsewhere":   errOf(sa.CoordinationV1().Leases("default").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "prescaler"}}, metav1.CreateOptions{})),
		"get another Lease":          errOf(sa.CoordinationV1().Leases("prescaler").Get(ctx, "other", metav1.GetOptions{})),
		"patch an HPA's status":      errOf(hpas.Patch(ctx, hpa.Name, types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}, "status")),
	})
}

// expectNamespaced checks the namespace-scoped install's line: targets'
// objects in default only, the capacity estimate's reads everywhere.
func expectNamespaced(ctx context.Context, t *testing.T, sa kubernetes.Interface) {
	t.Helper()
	expectForbidden(t, map[string]error{
		"patch another namespace's HPA": errOf(sa.AutoscalingV2().HorizontalPodAutoscalers("other").Patch(ctx, "other-hpa",
			types.MergePatchType, []byte(`{"spec":{"minReplicas":2}}`), metav1.PatchOptions{})),
		"list HPAs everywhere":        errOf(sa.AutoscalingV2().HorizontalPodAutoscalers("").List(ctx, metav1.ListOptions{})),
		"list Deployments everywhere": errOf(sa.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})),
		"list Deployments in other":   errOf(sa.AppsV1().Deployments("other").List(ctx, metav1.ListOptions{})),
		"list LimitRanges everywhere": errOf(sa.CoreV1().LimitRanges("").List(ctx, metav1.ListOptions{})),
		"record an Event in other": errOf(sa.CoreV1().Events("other").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "x"},
			InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Namespace: "other", Name: "other-hpa"},
		}, metav1.CreateOptions{})),
	})
	for what, err := range map[string]error{
		"get the HPA in default":      errOf(sa.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})),
		"list Deployments in default": errOf(sa.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})),
		"read a scale in default":     errOf(sa.AppsV1().Deployments("default").GetScale(ctx, "ai-inference", metav1.GetOptions{})),
		"list pods everywhere":        errOf(sa.CoreV1().Pods("").List(ctx, metav1.ListOptions{})),
		"list nodes":                  errOf(sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{})),
	} {
		if err != nil {
			t.Errorf("%s: %v, want allowed", what, err)
		}
	}
}

// expectForbidden checks the errors of calls made, by what they tried.
func expectForbidden(t *testing.T, calls map[string]error) {
	t.Helper()
	for what, err := range calls {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
}

// errOf keeps a call's error, so that a table of calls reads one per line.
func errOf[T any](_ T, err error) error { return err }

// otherHPA creates namespace other with an HPA prescaler must not reach.
func otherHPA(ctx context.Context, t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "other-hpa", Namespace: "other"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}},
	}
	if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers("other").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a process's output, written from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
