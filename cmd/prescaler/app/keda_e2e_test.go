package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// kedaFloor is the floor the steady demand of startKEDARun asks for:
// 300 requests per minute at 50 per replica.
const kedaFloor = 6

// kedaHPA is the HPA KEDA generates for the seed's ScaledObject.
const kedaHPA = "keda-hpa-" + testbed.SeedDeployment

var scaledObjectsGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// The daemon on a ScaledObject target, with the real KEDA operator between
// it and the Deployment: the floor lands in spec.minReplicaCount (the user's
// values saved in prescaler's annotation), KEDA copies it into the HPA it
// owns and the Deployment follows on the kwok GPU node; an opt-out, and
// later `prescaler restore`, give the user's spec back byte for byte.
func TestRunWritesAScaledObjectFloorThroughKEDA(t *testing.T) {
	testbed.RequireKEDA(t)
	k := startKEDARun(t)
	userSpec := k.specJSON(t)
	userBehavior := k.behaviorJSON(t)

	k.loopRaises(t)
	written := time.Now()
	if got := k.minReplicaCount(t); got != kedaFloor {
		t.Fatalf("ScaledObject minReplicaCount %d after the loop, want the floor %d", got, kedaFloor)
	}
	want := fmt.Sprintf(`{"behavior":%s,"minReplicas":1}`, userBehavior)
	if got := k.savedOriginal(t); got != want {
		t.Errorf("%s = %s, want the user's values %s", writer.AnnotationOriginal, got, want)
	}
	expectEvent(k.ctx, t, k.env, testbed.SeedDeployment, writer.ReasonFloorRaised)
	k.waitKEDAHPAMin(t, kedaFloor)
	k.waitDeploymentFollows(t, written)

	// Opt out: the next loop gives the user's spec back untouched.
	k.annotate(t, writer.AnnotationEnabled, "false")
	if out := k.r.daemon.RunOnce(k.ctx, time.Now())[0]; out.Skipped != "opted_out" || len(out.Errs) > 0 || out.WriteErr != nil {
		t.Fatalf("loop after the opt-out: %+v", out)
	}
	k.expectUsersSpec(t, userSpec, "after the opt-out")
	k.waitKEDAHPAMin(t, 1)

	// Opted in again, the floor comes back; `prescaler restore` on the
	// config's targets removes it again.
	k.annotate(t, writer.AnnotationEnabled, "")
	k.loopRaises(t)
	k.waitKEDAHPAMin(t, kedaFloor)
	stdout, err := execute("restore", "--kubeconfig", k.env.Kubeconfig, "--config", k.cfgPath)
	if err != nil {
		t.Fatalf("prescaler restore: %v", err)
	}
	if line := fmt.Sprintf("ScaledObject default/%s: restored the user's minReplicas 1 (was %d)", testbed.SeedDeployment, kedaFloor); !strings.Contains(stdout, line) {
		t.Errorf("prescaler restore printed %q, want %q", stdout, line)
	}
	k.expectUsersSpec(t, userSpec, "after prescaler restore")
	k.waitKEDAHPAMin(t, 1)
}

// kedaRun is a testbed with the KEDA operator, the seed's Deployment scaled
// by a ScaledObject of the same name, and a daemon (not yet looping) whose
// one target is that ScaledObject.
type kedaRun struct {
	ctx           context.Context
	env           *testbed.Env
	r             *runner
	cfgPath       string
	scaledObjects dynamic.ResourceInterface
}

// startKEDARun starts it with two days of a steady 300 requests per minute
// in Prometheus and one 8-GPU kwok node, so the floor is kedaFloor and fits.
func startKEDARun(t *testing.T) *kedaRun {
	t.Helper()
	now := time.Now().Truncate(time.Minute)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		now.Add(-50*time.Hour), now, time.Minute, func(time.Time) float64 { return 300 })
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{History: []testbed.Series{demand}}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if err := env.StartKEDA(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-a", 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.AppsV1().Deployments(testbed.SeedNamespace).Create(ctx, testbed.Seed{}.Deployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k := &kedaRun{ctx: ctx, env: env,
		scaledObjects: dynamic.NewForConfigOrDie(env.RESTConfig).Resource(scaledObjectsGVR).Namespace(testbed.SeedNamespace)}
	if _, err := k.scaledObjects.Create(ctx, usersScaledObject(now), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The user's spec is read once KEDA has taken the object over (its HPA
	// exists), so that nothing KEDA does on its own counts as prescaler's.
	k.waitKEDAHPAMin(t, 1)

	k.cfgPath = filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, k.cfgPath, fmt.Sprintf(`
prometheus: {url: %q, timeout: 2s}
leaderElection: {enabled: false}
targets:
  - {name: ai-inference, namespace: default, scaledObject: %s, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, env.PrometheusURL, testbed.SeedDeployment))
	r, err := newRunner(ctx, runFlags{configPath: k.cfgPath, kubeconfig: env.Kubeconfig}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	k.r = r
	return k
}

// usersScaledObject is the user's ScaledObject for the seed's Deployment.
// Its cron trigger needs no external system and its window is twelve hours
// away, so it stays inactive and the floor is minReplicaCount alone. The
// behavior and restoreToOriginalReplicaCount are fields a restore must give
// back exactly as they were.
func usersScaledObject(now time.Time) *unstructured.Unstructured {
	hour := strconv.Itoa((now.UTC().Hour() + 12) % 24)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata":   map[string]any{"name": testbed.SeedDeployment, "namespace": testbed.SeedNamespace},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": testbed.SeedDeployment},
			"minReplicaCount": int64(1),
			"maxReplicaCount": int64(20),
			"advanced": map[string]any{
				"restoreToOriginalReplicaCount": true,
				"horizontalPodAutoscalerConfig": map[string]any{"behavior": map[string]any{
					"scaleDown": map[string]any{
						"stabilizationWindowSeconds": int64(120),
						"policies":                   []any{map[string]any{"type": "Pods", "value": int64(1), "periodSeconds": int64(60)}},
					},
				}},
			},
			"triggers": []any{map[string]any{
				"type": "cron",
				"metadata": map[string]any{
					"timezone": "UTC", "start": "0 " + hour + " * * *", "end": "1 " + hour + " * * *",
					"desiredReplicas": "2",
				},
			}},
		},
	}}
}

// loopRaises runs one loop and checks that it wrote the floor kedaFloor.
func (k *kedaRun) loopRaises(t *testing.T) {
	t.Helper()
	out := k.r.daemon.RunOnce(k.ctx, time.Now())[0]
	if out.WriteErr != nil || len(out.Errs) > 0 || out.Skipped != "" {
		t.Fatalf("loop: skipped %q, write error %v, errors %v", out.Skipped, out.WriteErr, out.Errs)
	}
	if out.Decision.Floor != kedaFloor || !out.Wrote {
		t.Fatalf("loop: decision %+v, wrote %v; want the floor %d written", out.Decision, out.Wrote, kedaFloor)
	}
}

func (k *kedaRun) get(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	so, err := k.scaledObjects.Get(k.ctx, testbed.SeedDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return so
}

// specJSON is the ScaledObject's spec as JSON (keys sorted, so two reads of
// the same spec give the same bytes).
func (k *kedaRun) specJSON(t *testing.T) string {
	t.Helper()
	return mustJSON(t, k.get(t).Object["spec"])
}

func (k *kedaRun) behaviorJSON(t *testing.T) string {
	t.Helper()
	b, ok, err := unstructured.NestedMap(k.get(t).Object, "spec", "advanced", "horizontalPodAutoscalerConfig", "behavior")
	if err != nil || !ok {
		t.Fatalf("the user's behavior: found %v, %v", ok, err)
	}
	return mustJSON(t, b)
}

func (k *kedaRun) minReplicaCount(t *testing.T) int64 {
	t.Helper()
	n, _, _ := unstructured.NestedInt64(k.get(t).Object, "spec", "minReplicaCount")
	return n
}

// savedOriginal is prescaler's saved copy of the user's values, re-encoded
// with sorted keys so that it compares with the user's spec.
func (k *kedaRun) savedOriginal(t *testing.T) string {
	t.Helper()
	var saved map[string]any
	if err := json.Unmarshal([]byte(k.get(t).GetAnnotations()[writer.AnnotationOriginal]), &saved); err != nil {
		t.Fatalf("%s: %v", writer.AnnotationOriginal, err)
	}
	return mustJSON(t, saved)
}

// annotate sets an annotation on the ScaledObject, or removes it when value
// is empty. KEDA writes the object's status meanwhile: a conflict is retried
// on a fresh read, as kubectl annotate would.
func (k *kedaRun) annotate(t *testing.T, key, value string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		so, err := k.scaledObjects.Get(k.ctx, testbed.SeedDeployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ann := so.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		if value == "" {
			delete(ann, key)
		} else {
			ann[key] = value
		}
		so.SetAnnotations(ann)
		_, err = k.scaledObjects.Update(k.ctx, so, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The daemon reads the ScaledObject from its informer: the next loop
	// must see the edit.
	testbed.WaitFor(k.ctx, t, "the ScaledObject informer holds the edit", func() (bool, error) {
		obj, err := k.r.scaledObjects.lister.ByNamespace(testbed.SeedNamespace).Get(testbed.SeedDeployment)
		if err != nil {
			return false, err
		}
		got, ok := obj.(metav1.Object).GetAnnotations()[key]
		return got == value && ok == (value != ""), nil
	})
}

// expectUsersSpec checks that the ScaledObject holds the user's spec byte
// for byte and none of prescaler's values annotations.
func (k *kedaRun) expectUsersSpec(t *testing.T, want, when string) {
	t.Helper()
	if got := k.specJSON(t); got != want {
		t.Errorf("ScaledObject spec %s:\n got %s\nwant %s", when, got, want)
	}
	for _, key := range []string{writer.AnnotationOriginal, writer.AnnotationWritten, writer.AnnotationDecision} {
		if v, ok := k.get(t).GetAnnotations()[key]; ok {
			t.Errorf("ScaledObject keeps %s=%s %s", key, v, when)
		}
	}
}

// waitKEDAHPAMin waits until KEDA's HPA has minReplicas want.
func (k *kedaRun) waitKEDAHPAMin(t *testing.T, want int32) {
	t.Helper()
	began := time.Now()
	testbed.WaitFor(k.ctx, t, fmt.Sprintf("KEDA's %s at minReplicas %d", kedaHPA, want), func() (bool, error) {
		hpa, err := k.env.Client.AutoscalingV2().HorizontalPodAutoscalers(testbed.SeedNamespace).Get(k.ctx, kedaHPA, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != want {
			return false, fmt.Errorf("minReplicas %v", hpa.Spec.MinReplicas)
		}
		return true, nil
	})
	t.Logf("KEDA's %s at minReplicas %d after %s", kedaHPA, want, time.Since(began).Round(10*time.Millisecond))
}

// waitDeploymentFollows waits until the Deployment runs kedaFloor ready
// replicas, every pod on the GPU node and none Pending, and logs how long
// after the write that was.
func (k *kedaRun) waitDeploymentFollows(t *testing.T, written time.Time) {
	t.Helper()
	testbed.WaitFor(k.ctx, t, fmt.Sprintf("the Deployment at %d ready replicas, none Pending", kedaFloor), func() (bool, error) {
		d, err := k.env.Client.AppsV1().Deployments(testbed.SeedNamespace).Get(k.ctx, testbed.SeedDeployment, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.ReadyReplicas < kedaFloor {
			return false, fmt.Errorf("%d ready replicas", d.Status.ReadyReplicas)
		}
		scheduled, pending, err := podCounts(k.ctx, k.env)
		return err == nil && scheduled >= kedaFloor && pending == 0, err
	})
	t.Logf("Deployment at %d ready replicas %s after prescaler's write (%s)", kedaFloor,
		time.Since(written).Round(10*time.Millisecond), k.rescaledBy(t))
}

// rescaledBy says which controller scaled the Deployment up: KEDA's own
// scale loop also enforces minReplicaCount on its target and races the HPA
// controller, so either may win; both are correct.
func (k *kedaRun) rescaledBy(t *testing.T) string {
	t.Helper()
	evs, err := k.env.Client.CoreV1().Events(testbed.SeedNamespace).List(k.ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=" + kedaHPA + ",reason=SuccessfulRescale"})
	if err != nil {
		return "events: " + err.Error()
	}
	if len(evs.Items) == 0 {
		return "by KEDA's scale loop: the HPA controller found it at its minimum"
	}
	return "by the HPA controller: " + evs.Items[len(evs.Items)-1].Message
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
