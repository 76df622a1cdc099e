package writer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/test/testbed"
)

// kedaVersion is the KEDA release whose ScaledObject CRD the test installs.
const kedaVersion = "v2.21.0"

// userManager is the field manager of the "user" in these tests, as kubectl
// create names itself.
const userManager = "kubectl-create"

// TestIntegration runs the writer against a real etcd and kube-apiserver
// (test/testbed). The HPA controller is left out, so nothing but the test
// and the writer writes the objects and resourceVersions are stable.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the testbed's etcd and kube-apiserver")
	}
	controllers := slices.DeleteFunc(slices.Clone(testbed.DefaultControllers), func(c string) bool {
		return c == "horizontal-pod-autoscaler-controller"
	})
	env := testbed.Start(t, testbed.Options{Controllers: controllers, Prometheus: testbed.PrometheusOptions{Disabled: true}})

	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: env.Client.CoreV1().Events("")})
	t.Cleanup(broadcaster.Shutdown)
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "prescaler"})

	// The writer's own requests go through a counting transport, so "no
	// write" is checked on the wire.
	tr := &countingTransport{}
	cfg := rest.CopyConfig(env.RESTConfig)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { tr.next = rt; return tr })
	w, err := NewForConfig(cfg, recorder, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := &bed{t: t, kube: env.Client, dyn: dynamic.NewForConfigOrDie(env.RESTConfig), w: w, tr: tr}

	t.Run("first apply saves the original and owns exactly minReplicas", tb.testFirstApply)
	t.Run("identical apply makes no API write", tb.testNoWrite)
	t.Run("ramp behavior is owned, then unset again", tb.testRampThenUnset)
	t.Run("hand edit becomes the user floor", tb.testUserEdit)
	t.Run("user floor equal to prescaler's: kept when applied, lost when updated", tb.testUserSetsWrittenFloor)
	t.Run("concurrent edit between read and write is not lost", tb.testConcurrentEdit)
	t.Run("restore returns the user's behavior exactly", tb.testRestoreBehavior)
	t.Run("restore after the floor came back keeps minReplicas", tb.testRestoreUnchangedFloor)
	t.Run("deleted and recreated HPA gets a fresh original", tb.testRecreated)
	t.Run("scale target at 0 replicas: no write", tb.testDisabled)
	t.Run("opt out by annotation restores", tb.testOptOut)
	t.Run("events reach the API", tb.testEvents)
	t.Run("KEDA ScaledObject", tb.testKEDA)
	t.Run("list managed objects", tb.testListManaged)
	t.Run("reads from informers: an unchanged decision costs no request", func(t *testing.T) { tb.testCached(t, env.RESTConfig, recorder) })
}

type bed struct {
	t    *testing.T
	kube kubernetes.Interface
	dyn  dynamic.Interface
	w    *Writer
	tr   *countingTransport
	nsN  atomic.Int32
}

// countingTransport counts the writer's write requests and can run a hook
// before the next one.
type countingTransport struct {
	next     http.RoundTripper
	writes   atomic.Int64
	requests atomic.Int64 // every request, reads too
	mu       sync.Mutex
	before   func(*http.Request)
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	if r.Method != http.MethodGet {
		c.writes.Add(1)
		c.mu.Lock()
		hook := c.before
		c.before = nil
		c.mu.Unlock()
		if hook != nil {
			hook(r)
		}
	}
	return c.next.RoundTrip(r)
}

func (c *countingTransport) beforeNextWrite(f func(*http.Request)) {
	c.mu.Lock()
	c.before = f
	c.mu.Unlock()
}

var ctxTimeout = 60 * time.Second

func (b *bed) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), ctxTimeout)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a fresh namespace.
func (b *bed) namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("writer-%d", b.nsN.Add(1))
	if _, err := b.kube.CoreV1().Namespaces().Create(b.ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (b *bed) deployment(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "registry.invalid/server:test"}}},
			},
		},
	}
	if _, err := b.kube.AppsV1().Deployments(ns).Create(b.ctx(t), dep, metav1.CreateOptions{FieldManager: userManager}); err != nil {
		t.Fatal(err)
	}
}

// hpa creates a Deployment at 3 replicas and its HPA, as the user.
func (b *bed) hpa(t *testing.T, ns, name string, minReplicas int32, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) (config.ObjectRef, *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	b.deployment(t, ns, name, 3)
	h, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(b.ctx(t), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"team": "inference"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    &minReplicas,
			MaxReplicas:    20,
			Behavior:       behavior,
		},
	}, metav1.CreateOptions{FieldManager: userManager})
	if err != nil {
		t.Fatal(err)
	}
	return config.ObjectRef{Kind: config.KindHPA, Namespace: ns, Name: name}, h
}

func (b *bed) get(t *testing.T, ref config.ObjectRef) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	h, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ref.Namespace).Get(b.ctx(t), ref.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (b *bed) apply(t *testing.T, ref config.ObjectRef, d scaler.Decision) Result {
	t.Helper()
	res, err := b.w.Apply(b.ctx(t), ref, d)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (b *bed) restore(t *testing.T, ref config.ObjectRef) Result {
	t.Helper()
	res, err := b.w.Restore(b.ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// owned returns the sorted leaf fields manager owns.
func owned(t *testing.T, mf []metav1.ManagedFieldsEntry, manager string) []string {
	t.Helper()
	paths, err := ownedFields(mf, manager)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	return paths
}

func managers(mf []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range mf {
		out = append(out, fmt.Sprintf("%s/%s", e.Manager, e.Operation))
	}
	return out
}

// ownersOf returns the managers owning path.
func ownersOf(t *testing.T, mf []metav1.ManagedFieldsEntry, path string) []string {
	t.Helper()
	var out []string
	for _, e := range mf {
		if slices.Contains(owned(t, []metav1.ManagedFieldsEntry{e}, e.Manager), path) {
			out = append(out, e.Manager)
		}
	}
	return out
}

// ownAnnotations are prescaler's annotations as owned field paths, in the
// sorted order owned lists them.
var ownAnnotations = []string{".metadata.annotations." + AnnotationDecision, ".metadata.annotations." + AnnotationOriginal,
	".metadata.annotations." + AnnotationWritten}

func rampDecision(floor int32) scaler.Decision {
	return scaler.Decision{Floor: floor, Reason: scaler.ReasonForecast, Message: "ramp due", Behavior: &scaler.Behavior{
		ScaleUp: &scaler.Rules{StabilizationWindowSeconds: new(int32(0)), SelectPolicy: scaler.SelectMax,
			Policies: []scaler.Policy{{Type: scaler.PercentPolicy, Value: 100, PeriodSeconds: 15}, {Type: scaler.PodsPolicy, Value: 8, PeriodSeconds: 15}}},
		ScaleDown: &scaler.Rules{StabilizationWindowSeconds: new(int32(900))},
	}}
}

func (b *bed) testFirstApply(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	res := b.apply(t, ref, scaler.Decision{Floor: 5, Reason: scaler.ReasonForecast, Message: "forecast needs 5"})
	if res.Outcome != OutcomeWritten || res.PreviousFloor != 2 || res.Floor != 5 || res.UserMinReplicas != 2 {
		t.Fatalf("result %+v", res)
	}
	h := b.get(t, ref)
	if *h.Spec.MinReplicas != 5 || h.Spec.Behavior != nil {
		t.Errorf("minReplicas %d behavior %v, want 5 and unset", *h.Spec.MinReplicas, h.Spec.Behavior)
	}
	if got, want := h.Annotations[AnnotationOriginal], `{"minReplicas":2,"behavior":null}`; got != want {
		t.Errorf("original %s, want %s", got, want)
	}
	if got, want := h.Annotations[AnnotationWritten], `{"minReplicas":5,"behavior":null}`; got != want {
		t.Errorf("written %s, want %s", got, want)
	}
	// The decision behind the write, readable with kubectl after the
	// Events have expired.
	if got := h.Annotations[AnnotationDecision]; !strings.Contains(got, `"previousFloor":2,"floor":5,`) ||
		!strings.Contains(got, `"reason":"forecast","message":"forecast needs 5"`) || !strings.Contains(got, `"at":"20`) {
		t.Errorf("decision annotation %s", got)
	}
	if got, want := owned(t, h.ManagedFields, FieldManager), append(slices.Clone(ownAnnotations), ".spec.minReplicas"); !reflect.DeepEqual(got, want) {
		t.Errorf("prescaler owns %v, want %v", got, want)
	}
	for _, e := range h.ManagedFields {
		if e.Manager == FieldManager && e.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("prescaler entry operation %s, want Apply", e.Operation)
		}
	}
	if got := ownersOf(t, h.ManagedFields, ".spec.minReplicas"); !reflect.DeepEqual(got, []string{FieldManager}) {
		t.Errorf("spec.minReplicas owned by %v, want prescaler alone (forced)", got)
	}
	if got := ownersOf(t, h.ManagedFields, ".spec.maxReplicas"); !reflect.DeepEqual(got, []string{userManager}) {
		t.Errorf("spec.maxReplicas owned by %v, want the user's manager alone", got)
	}
	st := b.observeReplicas(t, ref, 3)
	if st.UserMinReplicas != 2 || st.MinReplicas != 5 || st.MaxReplicas != 20 || !st.Managed || st.Disabled || st.UserEdited {
		t.Errorf("state %+v", st)
	}
}

// observeReplicas observes ref until the scale target reports replicas (the
// Deployment controller fills its status shortly after creation).
func (b *bed) observeReplicas(t *testing.T, ref config.ObjectRef, replicas int32) State {
	t.Helper()
	var st State
	err := wait.PollUntilContextTimeout(b.ctx(t), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		st, err = b.w.Observe(ctx, ref)
		return err == nil && st.CurrentReplicas == replicas, err
	})
	if err != nil {
		t.Fatalf("observing %d current replicas: %v (state %+v)", replicas, err, st)
	}
	return st
}

func (b *bed) testNoWrite(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	for _, d := range []scaler.Decision{{Floor: 5}, rampDecision(6)} {
		b.apply(t, ref, d)
		rv := b.get(t, ref).ResourceVersion
		before := b.tr.writes.Load()
		res := b.apply(t, ref, d)
		if res.Outcome != OutcomeUnchanged {
			t.Errorf("identical apply: outcome %s", res.Outcome)
		}
		if n := b.tr.writes.Load() - before; n != 0 {
			t.Errorf("identical apply sent %d write requests", n)
		}
		if got := b.get(t, ref).ResourceVersion; got != rv {
			t.Errorf("resourceVersion %s → %s", rv, got)
		}
	}
}

func (b *bed) testRampThenUnset(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	res := b.apply(t, ref, rampDecision(6))
	if !res.BehaviorChanged {
		t.Errorf("ramp: %+v", res)
	}
	h := b.get(t, ref)
	want := append(slices.Clone(ownAnnotations),
		".spec.behavior.scaleDown.policies", ".spec.behavior.scaleDown.selectPolicy", ".spec.behavior.scaleDown.stabilizationWindowSeconds",
		".spec.behavior.scaleUp.policies", ".spec.behavior.scaleUp.selectPolicy", ".spec.behavior.scaleUp.stabilizationWindowSeconds",
		".spec.minReplicas")
	sort.Strings(want)
	if got := owned(t, h.ManagedFields, FieldManager); !reflect.DeepEqual(got, want) {
		t.Errorf("prescaler owns\n%v\nwant\n%v", got, want)
	}
	if up := h.Spec.Behavior.ScaleUp; up == nil || len(up.Policies) != 2 || up.Policies[1].Value != 8 || *h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 900 {
		t.Errorf("behavior %+v", h.Spec.Behavior)
	}
	// Nothing due any more: the user's behavior, unset, comes back, not the defaults.
	res = b.apply(t, ref, scaler.Decision{Floor: 6})
	h = b.get(t, ref)
	if h.Spec.Behavior != nil || !res.BehaviorChanged {
		t.Errorf("after the ramp: behavior %+v (changed %v), want unset", h.Spec.Behavior, res.BehaviorChanged)
	}
	if got, want := owned(t, h.ManagedFields, FieldManager), append(slices.Clone(ownAnnotations), ".spec.minReplicas"); !reflect.DeepEqual(got, want) {
		t.Errorf("prescaler owns %v, want %v", got, want)
	}
}

// userUpdate edits the HPA as kubectl edit does: a full update under another
// field manager.
func (b *bed) userUpdate(t *testing.T, ref config.ObjectRef, manager string, edit func(*autoscalingv2.HorizontalPodAutoscaler)) {
	t.Helper()
	h := b.get(t, ref)
	edit(h)
	if _, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ref.Namespace).Update(b.ctx(t), h, metav1.UpdateOptions{FieldManager: manager}); err != nil {
		t.Fatal(err)
	}
}

func (b *bed) testUserEdit(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	b.apply(t, ref, scaler.Decision{Floor: 5})
	b.userUpdate(t, ref, "kubectl-edit", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(7)) })

	st, err := b.w.Observe(b.ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.UserMinReplicas != 7 || !st.UserEdited || st.MinReplicas != 7 {
		t.Fatalf("after the edit: %+v", st)
	}
	res := b.apply(t, ref, scaler.Decision{Floor: 5}) // decided before the edit was seen
	if res.Floor != 7 || !res.UserEdited || res.UserMinReplicas != 7 {
		t.Errorf("apply after the edit: %+v", res)
	}
	h := b.get(t, ref)
	if got, want := h.Annotations[AnnotationOriginal], `{"minReplicas":7,"behavior":null}`; got != want {
		t.Errorf("original %s, want %s", got, want)
	}
	b.apply(t, ref, scaler.Decision{Floor: 9})
	if got := *b.get(t, ref).Spec.MinReplicas; got != 9 {
		t.Errorf("minReplicas %d, want 9", got)
	}
	// A hand edit downwards is a lower user floor, not prescaler's floor.
	b.userUpdate(t, ref, "kubectl-edit", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(1)) })
	if res := b.apply(t, ref, scaler.Decision{Floor: 1}); res.Floor != 1 || res.UserMinReplicas != 1 {
		t.Errorf("after an edit to 1: %+v", res)
	}
	b.apply(t, ref, scaler.Decision{Floor: 4})
	b.restore(t, ref)
	if got := *b.get(t, ref).Spec.MinReplicas; got != 1 {
		t.Errorf("restored minReplicas %d, want the user's last edit 1", got)
	}
}

// userApply applies minReplicas as kubectl apply --server-side does: the
// whole manifest, under the "kubectl" field manager, without force.
func (b *bed) userApply(t *testing.T, ref config.ObjectRef, minReplicas int32) {
	t.Helper()
	cfg := autoscalingv2ac.HorizontalPodAutoscaler(ref.Name, ref.Namespace).WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
		WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName(ref.Name)).
		WithMinReplicas(minReplicas).WithMaxReplicas(20))
	if _, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ref.Namespace).Apply(b.ctx(t), cfg, metav1.ApplyOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
}

// testUserSetsWrittenFloor: a user who sets minReplicas to exactly the
// value prescaler wrote. Applied server-side, the edit makes the user's
// manager a co-owner of spec.minReplicas, and that value becomes the user's
// floor, kept by later writes and by the restore. An update to the same
// value is an API no-op (no new resourceVersion, no managedFields change):
// nothing records it, and the restore brings back the older user value,
// the limit writer/doc.go states.
func (b *bed) testUserSetsWrittenFloor(t *testing.T) {
	ns := b.namespace(t)
	applied, _ := b.hpa(t, ns, "applied", 2, nil)
	b.apply(t, applied, scaler.Decision{Floor: 5})
	b.userApply(t, applied, 5)
	if got := ownersOf(t, b.get(t, applied).ManagedFields, ".spec.minReplicas"); !slices.Contains(got, "kubectl") || !slices.Contains(got, FieldManager) {
		t.Fatalf("spec.minReplicas owned by %v, want kubectl beside prescaler", got)
	}
	st, err := b.w.Observe(b.ctx(t), applied)
	if err != nil {
		t.Fatal(err)
	}
	if st.UserMinReplicas != 5 || !st.UserEdited {
		t.Errorf("after the user's server-side apply of 5: %+v, want user floor 5, edited", st)
	}
	if res := b.apply(t, applied, scaler.Decision{Floor: 3}); res.Floor != 5 || res.UserMinReplicas != 5 {
		t.Errorf("a lower decision after the user's 5: %+v, want floor 5", res)
	}
	if got := b.get(t, applied).Annotations[AnnotationOriginal]; got != `{"minReplicas":5,"behavior":null}` {
		t.Errorf("original %s, want the user's 5", got)
	}
	b.apply(t, applied, scaler.Decision{Floor: 8}) // forced: the user's manager loses the field
	if res := b.restore(t, applied); res.Floor != 5 {
		t.Errorf("restore: %+v, want the user's 5", res)
	}
	if got := *b.get(t, applied).Spec.MinReplicas; got != 5 {
		t.Errorf("restored minReplicas %d, want 5", got)
	}

	updated, _ := b.hpa(t, ns, "updated", 2, nil)
	b.apply(t, updated, scaler.Decision{Floor: 5})
	before := b.get(t, updated)
	b.userUpdate(t, updated, "kubectl-edit", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(5)) })
	after := b.get(t, updated)
	if after.ResourceVersion != before.ResourceVersion || !reflect.DeepEqual(managers(after.ManagedFields), managers(before.ManagedFields)) {
		t.Fatalf("an update to the same value left a trace: resourceVersion %s → %s, managers %v → %v",
			before.ResourceVersion, after.ResourceVersion, managers(before.ManagedFields), managers(after.ManagedFields))
	}
	if res := b.restore(t, updated); res.Floor != 2 {
		t.Errorf("restore after a no-op update: %+v, want the saved user value 2", res)
	}
}

func (b *bed) testConcurrentEdit(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	b.apply(t, ref, scaler.Decision{Floor: 5})
	// The user's edit lands between the writer's read and its apply: the
	// apply carries the resourceVersion it read, fails with a conflict and
	// is retried on a fresh read that sees the edit.
	b.tr.beforeNextWrite(func(*http.Request) {
		b.userUpdate(t, ref, "kubectl-edit", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(8)) })
	})
	before := b.tr.writes.Load()
	res := b.apply(t, ref, scaler.Decision{Floor: 6})
	if n := b.tr.writes.Load() - before; n != 2 {
		t.Errorf("%d write requests, want 2 (a conflict, then the retry)", n)
	}
	if res.Floor != 8 || res.UserMinReplicas != 8 {
		t.Errorf("result %+v, want the user's concurrent 8", res)
	}
	if got := b.get(t, ref).Annotations[AnnotationOriginal]; got != `{"minReplicas":8,"behavior":null}` {
		t.Errorf("original %s", got)
	}
}

func userBehavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	minPolicy := autoscalingv2.MinChangePolicySelect
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(600)),
			SelectPolicy:               &minPolicy,
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
		},
	}
}

// userView is what the user sees of an HPA: its spec, its annotations, and
// which fields each non-prescaler manager owns.
func specAndAnnotations(h *autoscalingv2.HorizontalPodAutoscaler) string {
	b, _ := json.Marshal(map[string]any{"spec": h.Spec, "annotations": h.Annotations})
	return string(b)
}

func (b *bed) testRestoreBehavior(t *testing.T) {
	for _, tc := range []struct {
		name     string
		behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	}{{"behavior set", userBehavior()}, {"behavior unset", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := b.namespace(t)
			ref, created := b.hpa(t, ns, "web", 2, tc.behavior)
			b.apply(t, ref, rampDecision(6))
			b.apply(t, ref, scaler.Decision{Floor: 4, Behavior: rampDecision(0).Behavior})
			res := b.restore(t, ref)
			if res.Outcome != OutcomeRestored || res.Floor != 2 || res.PreviousFloor != 4 {
				t.Errorf("result %+v", res)
			}
			h := b.get(t, ref)
			if got, want := specAndAnnotations(h), specAndAnnotations(created); got != want {
				t.Errorf("after restore\n%s\nwant, as created,\n%s", got, want)
			}
			if tc.behavior == nil && h.Spec.Behavior != nil {
				t.Errorf("behavior %+v, want unset", h.Spec.Behavior)
			}
			for _, e := range h.ManagedFields {
				if e.Manager == FieldManager {
					t.Errorf("prescaler still in managedFields: %v", managers(h.ManagedFields))
				}
			}
			if got := ownersOf(t, h.ManagedFields, ".spec.minReplicas"); len(got) == 0 || slices.Contains(got, FieldManager) {
				t.Errorf("spec.minReplicas owned by %v, want a non-prescaler manager", got)
			}
			if tc.behavior != nil {
				for _, p := range []string{".spec.behavior.scaleDown.stabilizationWindowSeconds", ".spec.behavior.scaleDown.policies", ".spec.behavior.scaleUp.policies"} {
					if got := ownersOf(t, h.ManagedFields, p); len(got) == 0 {
						t.Errorf("%s owned by nobody", p)
					}
				}
			}
			if res := b.restore(t, ref); res.Outcome != OutcomeUnchanged {
				t.Errorf("second restore: %s", res.Outcome)
			}
		})
	}
}

// testRestoreUnchangedFloor is the case a naive release gets wrong: the floor
// is back at the user's value but prescaler, having forced it earlier, owns it
// alone. Releasing by applying an empty configuration as prescaler would
// delete minReplicas (the apiserver then defaults it to 1); the restore hands
// it to the restore manager instead.
func (b *bed) testRestoreUnchangedFloor(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 3, nil)
	b.apply(t, ref, scaler.Decision{Floor: 6})
	b.apply(t, ref, scaler.Decision{Floor: 3})
	if got := ownersOf(t, b.get(t, ref).ManagedFields, ".spec.minReplicas"); !reflect.DeepEqual(got, []string{FieldManager}) {
		t.Fatalf("precondition: minReplicas owned by %v", got)
	}
	b.restore(t, ref)
	h := b.get(t, ref)
	if *h.Spec.MinReplicas != 3 {
		t.Errorf("minReplicas %d, want 3", *h.Spec.MinReplicas)
	}
	if got := ownersOf(t, h.ManagedFields, ".spec.minReplicas"); !reflect.DeepEqual(got, []string{RestoreFieldManager}) {
		t.Errorf("minReplicas owned by %v, want %s", got, RestoreFieldManager)
	}

	// The hazard itself, shown on a twin: an empty apply as the sole owner
	// deletes the field.
	twin, _ := b.hpa(t, ns, "twin", 3, nil)
	b.apply(t, twin, scaler.Decision{Floor: 6})
	b.apply(t, twin, scaler.Decision{Floor: 3})
	empty := fmt.Sprintf(`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":%q,"namespace":%q}}`, twin.Name, ns)
	if _, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Patch(b.ctx(t), twin.Name, types.ApplyPatchType, []byte(empty),
		metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		t.Fatal(err)
	}
	if got := *b.get(t, twin).Spec.MinReplicas; got != 1 {
		t.Errorf("naive release left minReplicas %d; the hazard this restore avoids is gone?", got)
	}
}

func (b *bed) testRecreated(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	b.apply(t, ref, scaler.Decision{Floor: 5})
	if err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(b.ctx(t), ref.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.w.Apply(b.ctx(t), ref, scaler.Decision{Floor: 5}); !errors.Is(err, ErrNotFound) {
		t.Errorf("apply to a deleted HPA: %v, want ErrNotFound", err)
	}
	if _, err := b.w.Restore(b.ctx(t), ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore of a deleted HPA: %v, want ErrNotFound", err)
	}
	if _, err := b.w.Observe(b.ctx(t), ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("observe of a deleted HPA: %v, want ErrNotFound", err)
	}
	min := int32(3)
	if _, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(b.ctx(t), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ref.Name},
			MinReplicas:    &min, MaxReplicas: 20,
		},
	}, metav1.CreateOptions{FieldManager: userManager}); err != nil {
		t.Fatal(err)
	}
	res := b.apply(t, ref, scaler.Decision{Floor: 5})
	if res.UserMinReplicas != 3 || res.PreviousFloor != 3 {
		t.Errorf("recreated: %+v", res)
	}
	if got := b.get(t, ref).Annotations[AnnotationOriginal]; got != `{"minReplicas":3,"behavior":null}` {
		t.Errorf("recreated HPA original %s, want minReplicas 3", got)
	}
}

func (b *bed) testDisabled(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	b.apply(t, ref, scaler.Decision{Floor: 5})
	// The HPA controller scales the Deployment to the new floor meanwhile:
	// read and write the scale again when it did so in between.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := b.kube.AppsV1().Deployments(ns).GetScale(b.ctx(t), ref.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		scale.Spec.Replicas = 0
		_, err = b.kube.AppsV1().Deployments(ns).UpdateScale(b.ctx(t), ref.Name, scale, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.w.Observe(b.ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Disabled || st.DisabledReason == "" {
		t.Errorf("state %+v, want disabled", st)
	}
	before, rv := b.tr.writes.Load(), b.get(t, ref).ResourceVersion
	res := b.apply(t, ref, scaler.Decision{Floor: 9})
	if res.Outcome != OutcomeDisabled || b.tr.writes.Load() != before || b.get(t, ref).ResourceVersion != rv {
		t.Errorf("disabled HPA written: %+v", res)
	}
}

func (b *bed) testOptOut(t *testing.T) {
	ns := b.namespace(t)
	ref, created := b.hpa(t, ns, "web", 2, userBehavior())
	b.apply(t, ref, rampDecision(6))
	b.userUpdate(t, ref, "kubectl-annotate", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Annotations[AnnotationEnabled] = "false" })
	res := b.apply(t, ref, rampDecision(7))
	if res.Outcome != OutcomeRestored {
		t.Fatalf("opted-out apply: %+v", res)
	}
	h := b.get(t, ref)
	if !OptedOut(h) {
		t.Error("OptedOut = false")
	}
	delete(h.Annotations, AnnotationEnabled)
	if got, want := specAndAnnotations(h), specAndAnnotations(created); got != want {
		t.Errorf("after opt-out\n%s\nwant\n%s", got, want)
	}
	before := b.tr.writes.Load()
	if res := b.apply(t, ref, rampDecision(7)); res.Outcome != OutcomeOptedOut || b.tr.writes.Load() != before {
		t.Errorf("opted out again: %+v, %d writes", res, b.tr.writes.Load()-before)
	}
}

func (b *bed) testEvents(t *testing.T) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	b.apply(t, ref, scaler.Decision{Floor: 5, Reason: scaler.ReasonForecast, Message: "forecast needs 5"})
	b.apply(t, ref, scaler.Decision{Floor: 3, Reason: scaler.ReasonScaleDownGuard, Message: "lowered by at most 20%"})
	b.restore(t, ref)
	want := map[string]string{
		ReasonOriginalSaved: "saved the user's minReplicas 2 and behavior unset",
		ReasonFloorRaised:   "minReplicas 2 → 5 (forecast: forecast needs 5)",
		ReasonFloorLowered:  "minReplicas 5 → 3 (scale_down_guard: lowered by at most 20%)",
		ReasonRestored:      "restored the user's minReplicas 2 (was 3)",
	}
	var got map[string]string
	err := wait.PollUntilContextTimeout(b.ctx(t), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := b.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		got = map[string]string{}
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == config.KindHPA && e.InvolvedObject.Name == ref.Name {
				got[e.Reason] = e.Message
			}
		}
		return len(got) >= len(want), nil
	})
	if err != nil {
		t.Fatalf("events %v: %v", got, err)
	}
	for reason, msg := range want {
		if !strings.HasPrefix(got[reason], msg) {
			t.Errorf("event %s: %q, want it to start with %q", reason, got[reason], msg)
		}
	}
}

// kedaCRD returns KEDA's ScaledObject CRD: from the Go module cache, else
// downloaded with the go command (outside prescaler's go.mod), else the
// minimal CRD in testdata.
func kedaCRD(t *testing.T) ([]byte, string) {
	t.Helper()
	rel := filepath.Join("config", "crd", "bases", "keda.sh_scaledobjects.yaml")
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "github.com", "kedacore", "keda", "v2@"+kedaVersion, rel)
		if b, err := os.ReadFile(p); err == nil {
			return b, p
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/kedacore/keda/v2@"+kedaVersion)
	cmd.Dir = t.TempDir() // no go.mod: nothing of prescaler's changes
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.Output(); err == nil {
		var m struct{ Dir string }
		if json.Unmarshal(out, &m) == nil && m.Dir != "" {
			p := filepath.Join(m.Dir, rel)
			if b, err := os.ReadFile(p); err == nil {
				return b, p
			}
		}
	}
	p := filepath.Join("testdata", "scaledobjects-minimal.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b, p
}

func (b *bed) installKEDA(t *testing.T) {
	t.Helper()
	raw, from := kedaCRD(t)
	t.Logf("ScaledObject CRD from %s", from)
	crd := &unstructured.Unstructured{}
	if err := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096).Decode(&crd.Object); err != nil {
		t.Fatal(err)
	}
	crds := b.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(b.ctx(t), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(b.ctx(t), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := b.dyn.Resource(scaledObjectGVR).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("ScaledObjects not served: %v", err)
	}
}

func (b *bed) scaledObject(t *testing.T, ns, name string, spec map[string]any) (config.ObjectRef, *unstructured.Unstructured) {
	t.Helper()
	b.deployment(t, ns, name, 2)
	full := map[string]any{
		"scaleTargetRef":  map[string]any{"name": name},
		"maxReplicaCount": int64(10),
		"triggers":        []any{map[string]any{"type": "cpu", "metricType": "Utilization", "metadata": map[string]any{"value": "60"}}},
	}
	for k, v := range spec {
		full[k] = v
	}
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": name, "namespace": ns, "annotations": map[string]any{"team": "inference"}},
		"spec":     full,
	}}
	created, err := b.dyn.Resource(scaledObjectGVR).Namespace(ns).Create(b.ctx(t), so, metav1.CreateOptions{FieldManager: userManager})
	if err != nil {
		t.Fatal(err)
	}
	return config.ObjectRef{Kind: config.KindScaledObject, Namespace: ns, Name: name}, created
}

func (b *bed) getSO(t *testing.T, ref config.ObjectRef) *unstructured.Unstructured {
	t.Helper()
	u, err := b.dyn.Resource(scaledObjectGVR).Namespace(ref.Namespace).Get(b.ctx(t), ref.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func soSpecAndAnnotations(u *unstructured.Unstructured) string {
	b, _ := json.Marshal(map[string]any{"spec": u.Object["spec"], "annotations": u.GetAnnotations()})
	return string(b)
}

func (b *bed) testKEDA(t *testing.T) {
	b.installKEDA(t)

	t.Run("minReplicaCount and behavior unset", func(t *testing.T) {
		ns := b.namespace(t)
		ref, created := b.scaledObject(t, ns, "worker", nil)
		res := b.apply(t, ref, rampDecision(4))
		if res.Outcome != OutcomeWritten || res.PreviousFloor != 0 || res.Floor != 4 || res.UserMinReplicas != 0 {
			t.Fatalf("result %+v", res)
		}
		u := b.getSO(t, ref)
		if n, _, _ := unstructured.NestedInt64(u.Object, "spec", "minReplicaCount"); n != 4 {
			t.Errorf("minReplicaCount %d, want 4", n)
		}
		if w, _, _ := unstructured.NestedInt64(u.Object, "spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds"); w != 900 {
			t.Errorf("scaleDown window %d, want 900", w)
		}
		if got := u.GetAnnotations()[AnnotationOriginal]; got != `{"minReplicas":null,"behavior":null}` {
			t.Errorf("original %s", got)
		}
		bp := ".spec.advanced.horizontalPodAutoscalerConfig.behavior."
		want := append(slices.Clone(ownAnnotations),
			bp+"scaleDown.policies", bp+"scaleDown.selectPolicy", bp+"scaleDown.stabilizationWindowSeconds",
			bp+"scaleUp.policies", bp+"scaleUp.selectPolicy", bp+"scaleUp.stabilizationWindowSeconds",
			".spec.minReplicaCount")
		sort.Strings(want)
		if got := owned(t, u.GetManagedFields(), FieldManager); !reflect.DeepEqual(got, want) {
			t.Errorf("prescaler owns\n%v\nwant\n%v", got, want)
		}

		before, rv := b.tr.writes.Load(), u.GetResourceVersion()
		if res := b.apply(t, ref, rampDecision(4)); res.Outcome != OutcomeUnchanged || b.tr.writes.Load() != before || b.getSO(t, ref).GetResourceVersion() != rv {
			t.Errorf("identical apply wrote: %+v", res)
		}

		b.restore(t, ref)
		u = b.getSO(t, ref)
		if got, want := soSpecAndAnnotations(u), soSpecAndAnnotations(created); got != want {
			t.Errorf("after restore\n%s\nwant\n%s", got, want)
		}
		for _, e := range u.GetManagedFields() {
			if e.Manager == FieldManager {
				t.Errorf("prescaler still in managedFields: %v", managers(u.GetManagedFields()))
			}
		}
	})

	t.Run("user values restored exactly", func(t *testing.T) {
		ns := b.namespace(t)
		behavior := map[string]any{"scaleDown": map[string]any{"stabilizationWindowSeconds": int64(120)}}
		ref, created := b.scaledObject(t, ns, "worker", map[string]any{
			"minReplicaCount": int64(1),
			"advanced":        map[string]any{"restoreToOriginalReplicaCount": true, "horizontalPodAutoscalerConfig": map[string]any{"behavior": behavior}},
		})
		st := b.observeReplicas(t, ref, 2)
		if st.UserMinReplicas != 1 || st.UserBehavior == nil || *st.UserBehavior.ScaleDown.StabilizationWindowSeconds != 120 {
			t.Errorf("state %+v", st)
		}
		b.apply(t, ref, scaler.Decision{Floor: 5, Behavior: st.UserBehavior})
		if n, _, _ := unstructured.NestedInt64(b.getSO(t, ref).Object, "spec", "minReplicaCount"); n != 5 {
			t.Errorf("minReplicaCount %d, want 5", n)
		}
		b.restore(t, ref)
		if got, want := soSpecAndAnnotations(b.getSO(t, ref)), soSpecAndAnnotations(created); got != want {
			t.Errorf("after restore\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("paused ScaledObject: no write", func(t *testing.T) {
		ns := b.namespace(t)
		ref, created := b.scaledObject(t, ns, "worker", nil)
		created.SetAnnotations(map[string]string{"autoscaling.keda.sh/paused": "true"})
		if _, err := b.dyn.Resource(scaledObjectGVR).Namespace(ns).Update(b.ctx(t), created, metav1.UpdateOptions{FieldManager: "kubectl-annotate"}); err != nil {
			t.Fatal(err)
		}
		before := b.tr.writes.Load()
		if res := b.apply(t, ref, scaler.Decision{Floor: 3}); res.Outcome != OutcomeDisabled || b.tr.writes.Load() != before {
			t.Errorf("paused: %+v", res)
		}
	})
}

func (b *bed) testListManaged(t *testing.T) {
	ns := b.namespace(t)
	hpa, _ := b.hpa(t, ns, "web", 2, nil)
	b.hpa(t, ns, "untouched", 2, nil)
	so, _ := b.scaledObject(t, ns, "worker", nil)
	b.apply(t, hpa, scaler.Decision{Floor: 3})
	b.apply(t, so, scaler.Decision{Floor: 3})
	got, err := b.w.ListManaged(b.ctx(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.ObjectRef{hpa, so}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListManaged = %v, want %v", got, want)
	}
	b.restore(t, hpa)
	got, err = b.w.ListManaged(b.ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, hpa) || !slices.Contains(got, so) {
		t.Errorf("after restoring %s: ListManaged = %v", hpa, got)
	}
}
