package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/prescaler/prescaler/internal/freeport"
	"github.com/prescaler/prescaler/test/testbed"
)

// `helm uninstall` gives the user's HPA back byte for byte, on the real
// control plane with a real helm: the chart is installed, its controller
// raises inference-hpa's floor, and the uninstall's pre-delete hook stops the
// controller and restores every object before the chart's objects go.
//
// kwok runs no container, so this test plays the kubelet for the chart's
// pods: it runs the controller's container (the prescaler binary with the
// pod's arguments, its ConfigMap's file and nothing but its
// ServiceAccount's token) while the pod runs, holds the pod with a finalizer
// until that process has exited on SIGTERM, as a kubelet holds a
// terminating pod, and runs the hook Job's container the same way, then
// completes its pod with the process's exit code.
func TestHelmUninstallRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	h := newHelm(t)
	w := startUninstallWorld(t)
	env, ctx, kubelet := w.env, w.ctx, w.kubelet
	original := hpaJSON(ctx, t, env)

	valuesPath := writeValues(t, env.PrometheusURL)
	helmCmd := func(args ...string) {
		t.Helper()
		out, err := h.run(append(args, "--kubeconfig", env.Kubeconfig, "--namespace", "prescaler")...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s\nthe kubelet's processes:\n%s", args, err, out, kubelet.output())
		}
	}
	helmCmd("install", "prescaler", chartDir, "--create-namespace", "--values", valuesPath)
	testbed.WaitFor(ctx, t, "the installed controller's floor of 8 on inference-hpa", func() (bool, error) {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		return err == nil && *hpa.Spec.MinReplicas == 8, err
	})

	helmCmd("uninstall", "prescaler", "--timeout", "3m")
	expectGivenBack(ctx, t, env, original)
	expectStoppedThenRestored(t, kubelet, roleHook)
	// The hook's Role, which may scale the controller, is gone with it.
	if _, err := env.Client.RbacV1().Roles("prescaler").Get(ctx, "prescaler-uninstall", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hook's Role after uninstall: %v, want not found", err)
	}
}

// The kustomize install's uninstall, as docs/install.md gives it: one
// command line, run with the administrator's credentials, that stops the
// controller, restores every object, then deletes the install.
func TestKustomizeUninstallRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	w := startUninstallWorld(t)
	env, ctx, kubelet := w.env, w.ctx, w.kubelet
	original := hpaJSON(ctx, t, env)

	objs := render(t, ".")
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "prescaler-config-") {
			if err := unstructured.SetNestedField(o.Object, testConfig(t, env.PrometheusURL), "data", "config.yaml"); err != nil {
				t.Fatal(err)
			}
		}
		// One controller, as the chart's test runs: the fake kubelet runs
		// pods as local processes, and two would share the metrics port.
		if o.GetKind() == "Deployment" && o.GetName() == "prescaler" {
			if err := unstructured.SetNestedField(o.Object, int64(1), "spec", "replicas"); err != nil {
				t.Fatal(err)
			}
		}
	}
	newApplier(t, env).applyAll(ctx, t, objs)
	testbed.WaitFor(ctx, t, "the installed controller's floor of 8 on inference-hpa", func() (bool, error) {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		return err == nil && *hpa.Spec.MinReplicas == 8, err
	})

	// docs/install.md's line, run from the repository's root with this
	// test's binary as bin/prescaler and the testbed's kubectl.
	line := strings.ReplaceAll(uninstallLine(t), "bin/prescaler", w.bin)
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig,
		"PATH="+filepath.Dir(env.Binary("kubectl"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	kubelet.logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	expectGivenBack(ctx, t, env, original)
	expectStoppedThenRestored(t, kubelet, "")
	if !strings.Contains(string(out), "HorizontalPodAutoscaler default/inference-hpa: restored the user's minReplicas 1 (was 8)") {
		t.Errorf("the uninstall line's output does not report the restore:\n%s", out)
	}
}

// uninstallWorld is the seed's world (two days of 600 requests per minute,
// inference-hpa, two 4-GPU nodes: a floor of 8) with a fake kubelet running
// the prescaler binary for the installs' pods.
type uninstallWorld struct {
	env     *testbed.Env
	ctx     context.Context
	kubelet *fakeKubelet
	bin     string
}

func startUninstallWorld(t *testing.T) uninstallWorld {
	t.Helper()
	bin := buildPrescaler(t)
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 600 })
	env := testbed.Start(t, testbed.Options{JobPodsKeepRunning: true,
		Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if err := env.AddGPUNodes(ctx, 4, "gpu-a", "gpu-b"); err != nil {
		t.Fatal(err)
	}
	seed(ctx, t, env.Client)
	kubelet := newFakeKubelet(t, env, bin)
	go kubelet.run(ctx)
	t.Cleanup(kubelet.stop)
	return uninstallWorld{env: env, ctx: ctx, kubelet: kubelet, bin: bin}
}

// expectGivenBack checks that inference-hpa holds the user's spec byte for
// byte and nothing of prescaler: no annotation, no field manager.
func expectGivenBack(ctx context.Context, t *testing.T, env *testbed.Env, original string) {
	t.Helper()
	if got := hpaJSON(ctx, t, env); got != original {
		t.Errorf("inference-hpa's spec after the uninstall:\n got %s\nwant %s", got, original)
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range hpa.Annotations {
		if strings.HasPrefix(k, "prescaler.io/") {
			t.Errorf("inference-hpa keeps annotation %s", k)
		}
	}
	for _, mf := range hpa.ManagedFields {
		if mf.Manager == "prescaler" {
			t.Error("inference-hpa keeps field manager prescaler")
		}
	}
}

// expectStoppedThenRestored checks that every controller process (one per
// replica) exited cleanly on SIGTERM and, with hook set, that the hook's
// process ran after them and exited 0.
func expectStoppedThenRestored(t *testing.T, kubelet *fakeKubelet, hook string) {
	t.Helper()
	runs := kubelet.finished()
	controllers := runs
	if hook != "" {
		if len(runs) < 2 || runs[len(runs)-1].role != hook {
			t.Fatalf("containers run %v, want the controller stopped, then the %s", runs, hook)
		}
		controllers = runs[:len(runs)-1]
	}
	if len(controllers) == 0 {
		t.Fatal("no controller process ran")
	}
	for _, r := range runs {
		if r.err != nil {
			t.Errorf("the %s's container (pod %s) exited with %v; the kubelet's processes:\n%s", r.role, r.pod, r.err, kubelet.output())
		}
	}
	for _, c := range controllers {
		if c.role != roleController {
			t.Errorf("%v ran before the hook, want only controllers", c)
		}
		if hook != "" && !c.ended.Before(runs[len(runs)-1].ended) {
			t.Errorf("the hook finished before controller %s stopped", c.pod)
		}
	}
	if hook != "" && !strings.Contains(kubelet.output(), "HorizontalPodAutoscaler default/inference-hpa: restored the user's minReplicas 1 (was 8)") {
		t.Errorf("the hook's output does not report the restore:\n%s", kubelet.output())
	}
}

// uninstallLine is the kustomize uninstall command line of docs/install.md:
// the line holding "restore --all --stop-deployment".
func uninstallLine(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.Contains(line, "restore --all --stop-deployment") && strings.Contains(line, "kubectl delete -k") {
			if i := strings.Index(line, "#"); i >= 0 {
				line = line[:i]
			}
			return strings.TrimSpace(line)
		}
	}
	t.Fatal("docs/install.md has no uninstall line with restore --all --stop-deployment and kubectl delete -k")
	return ""
}

func hpaJSON(ctx context.Context, t *testing.T, env *testbed.Env) string {
	t.Helper()
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(hpa.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeValues writes the chart's values for the testbed: one controller
// (leader election on, as installed), a config pointing at the testbed's
// Prometheus and the seed's HPA, metrics on a free local port (the
// controller runs as a local process).
func writeValues(t *testing.T, promURL string) string {
	t.Helper()
	cfg := testConfig(t, promURL)
	path := filepath.Join(t.TempDir(), "values.yaml")
	text := "replicas: 1\npodDisruptionBudget: {enabled: false}\nconfig:\n  " + strings.ReplaceAll(strings.TrimSpace(cfg), "\n", "\n  ") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testConfig is prescaler's config for the testbed: leader election on, as
// installed, the testbed's Prometheus and the seed's HPA, metrics on a free
// local port (the controller runs as a local process).
func testConfig(t *testing.T, promURL string) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`interval: 1s
prometheus: {url: %q}
leaderElection: {enabled: true, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}
server: {address: %q}
targets:
  - {name: ai-inference, namespace: default, hpa: inference-hpa, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, promURL, addr)
}

// The chart's pods the fake kubelet runs.
const (
	roleController = "controller"
	roleHook       = "uninstall hook"
	// kubeletFinalizer holds a controller pod until its process has exited.
	kubeletFinalizer = "test.prescaler.io/kubelet"
)

// fakeKubelet runs the containers of the chart's pods in namespace
// prescaler as local processes (see TestHelmUninstallRestores).
type fakeKubelet struct {
	t   *testing.T
	env *testbed.Env
	bin string
	dir string

	mu      sync.Mutex
	running map[types.UID]*containerRun
	// ran holds every pod whose container was started: a container runs
	// once per pod, as a Job pod's does (restartPolicy Never). Between a
	// hook's exit and its pod's Succeeded status, a poll still sees it
	// Running.
	ran     map[types.UID]bool
	done    []*containerRun
	out     syncBuffer
	cancel  context.CancelFunc
	stopped chan struct{}
}

type containerRun struct {
	role  string
	pod   string
	cmd   *exec.Cmd
	wait  chan error
	err   error
	ended time.Time
}

func (r *containerRun) String() string { return r.role + " " + r.pod }

func newFakeKubelet(t *testing.T, env *testbed.Env, bin string) *fakeKubelet {
	return &fakeKubelet{t: t, env: env, bin: bin, dir: t.TempDir(), running: map[types.UID]*containerRun{}, ran: map[types.UID]bool{}, stopped: make(chan struct{})}
}

// run polls the namespace's pods until ctx ends or stop is called.
func (k *fakeKubelet) run(ctx context.Context) {
	ctx, k.cancel = context.WithCancel(ctx)
	defer close(k.stopped)
	for ctx.Err() == nil {
		if err := k.sync(ctx); err != nil && ctx.Err() == nil {
			k.logf("kubelet: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the polling and kills what still runs.
func (k *fakeKubelet) stop() {
	if k.cancel != nil {
		k.cancel()
		<-k.stopped
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.running {
		_ = r.cmd.Process.Kill()
		<-r.wait
	}
}

func (k *fakeKubelet) sync(ctx context.Context) error {
	pods, err := k.env.Client.CoreV1().Pods("prescaler").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		switch name := pod.Labels["app.kubernetes.io/name"]; name {
		case "prescaler":
			if err := k.syncController(ctx, pod); err != nil {
				return err
			}
		case "prescaler-uninstall":
			if err := k.syncHook(ctx, pod); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncController starts the controller's process on a running pod and, once
// the pod is being deleted, stops it with SIGTERM before letting the pod go.
func (k *fakeKubelet) syncController(ctx context.Context, pod *corev1.Pod) error {
	k.mu.Lock()
	r, started := k.running[pod.UID]
	ran := k.ran[pod.UID]
	k.mu.Unlock()
	switch {
	case pod.DeletionTimestamp != nil && started:
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		k.finish(pod.UID, r)
		return k.removeFinalizer(ctx, pod)
	case pod.DeletionTimestamp != nil:
		return k.removeFinalizer(ctx, pod)
	case ran || pod.Status.Phase != corev1.PodRunning:
		return nil
	}
	if !slices.Contains(pod.Finalizers, kubeletFinalizer) {
		patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, kubeletFinalizer)
		if _, err := k.env.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	args, err := k.containerArgs(ctx, pod)
	if err != nil {
		return err
	}
	return k.start(pod, roleController, args)
}

// syncHook runs the hook Job's container on a running pod, then completes
// the pod with its exit code.
func (k *fakeKubelet) syncHook(ctx context.Context, pod *corev1.Pod) error {
	k.mu.Lock()
	ran := k.ran[pod.UID]
	k.mu.Unlock()
	if ran || pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return nil
	}
	args, err := k.containerArgs(ctx, pod)
	if err != nil {
		return err
	}
	if err := k.start(pod, roleHook, args); err != nil {
		return err
	}
	go func() {
		k.mu.Lock()
		r := k.running[pod.UID]
		k.mu.Unlock()
		err := k.finish(pod.UID, r)
		code := int32(0)
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = int32(exit.ExitCode())
		}
		if err := testbed.CompletePod(ctx, k.env.Client, pod.Namespace, pod.Name, code); err != nil {
			k.logf("kubelet: %v", err)
		}
	}()
	return nil
}

// containerArgs is the pod's container command line, run with a kubeconfig
// holding a token of the pod's ServiceAccount alone and, for --config, the
// file of the pod's config volume.
func (k *fakeKubelet) containerArgs(ctx context.Context, pod *corev1.Pod) ([]string, error) {
	kubeconfig, err := k.serviceAccountKubeconfig(ctx, pod)
	if err != nil {
		return nil, err
	}
	args := slices.Clone(pod.Spec.Containers[0].Args)
	for i, a := range args {
		if !strings.HasPrefix(a, "--config=") {
			continue
		}
		path, err := k.configFile(ctx, pod)
		if err != nil {
			return nil, err
		}
		args[i] = "--config=" + path
	}
	return append(args, "--kubeconfig="+kubeconfig), nil
}

func (k *fakeKubelet) serviceAccountKubeconfig(ctx context.Context, pod *corev1.Pod) (string, error) {
	hour := int64(3600)
	tr, err := k.env.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testbed"] = &clientcmdapi.Cluster{Server: k.env.RESTConfig.Host, CertificateAuthorityData: k.env.RESTConfig.CAData}
	kc.AuthInfos["pod"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "pod"}
	kc.CurrentContext = "pod"
	path := filepath.Join(k.dir, pod.Name+".kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

// configFile writes the config.yaml of the ConfigMap the pod mounts.
func (k *fakeKubelet) configFile(ctx context.Context, pod *corev1.Pod) (string, error) {
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, err := k.env.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		path := filepath.Join(k.dir, pod.Name+".yaml")
		return path, os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o644)
	}
	return "", fmt.Errorf("pod %s mounts no ConfigMap", pod.Name)
}

func (k *fakeKubelet) start(pod *corev1.Pod, role string, args []string) error {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+pod.Namespace) // the downward API
	cmd.Stdout, cmd.Stderr = &k.out, &k.out
	if err := cmd.Start(); err != nil {
		return err
	}
	r := &containerRun{role: role, pod: pod.Name, cmd: cmd, wait: make(chan error, 1)}
	go func() { r.wait <- cmd.Wait() }()
	k.mu.Lock()
	k.running[pod.UID] = r
	k.ran[pod.UID] = true
	k.mu.Unlock()
	return nil
}

// finish waits for a run's process (at most 20 s, then kills it) and
// records how it ended.
func (k *fakeKubelet) finish(uid types.UID, r *containerRun) error {
	select {
	case r.err = <-r.wait:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.wait
		r.err = errors.New("killed: still running 20s after it should have ended")
	}
	r.ended = time.Now()
	k.mu.Lock()
	delete(k.running, uid)
	k.done = append(k.done, r)
	k.mu.Unlock()
	return r.err
}

func (k *fakeKubelet) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	i := slices.Index(pod.Finalizers, kubeletFinalizer)
	if i < 0 {
		return nil
	}
	patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, i, kubeletFinalizer, i)
	_, err := k.env.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// finished are the runs that ended, in order.
func (k *fakeKubelet) finished() []*containerRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.done)
}

func (k *fakeKubelet) output() string { return k.out.String() }

func (k *fakeKubelet) logf(format string, args ...any) {
	k.out.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// applyAll server-side applies every object for real, as `kubectl apply
// --server-side -k` would.
func (a *applier) applyAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if _, err := a.resource(t, o).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "kubectl", Force: true}); err != nil {
			t.Fatalf("apply %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
