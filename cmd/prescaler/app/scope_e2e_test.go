package app

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
)

// --namespace with two namespaces, on a real API server: the informers
// hold both namespaces' Deployments and HPAs and no other's, from the
// first list and then by watching each (creations and a deletion after the
// list arrive; a third namespace's never do).
func TestNamespaceListWatchesEachNamespaceOnARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env := testbed.Start(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	namespaces := []string{"team-a", "team-b", "other"}
	for _, ns := range namespaces {
		if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		createDeployment(ctx, t, env, ns, "before")
	}
	cfg := &config.Config{Targets: []config.Target{{Name: "a", Namespace: "team-a"}, {Name: "b", Namespace: "team-b"}}}
	f, err := newInformerFactory(env.Client, []string{"team-a", "team-b"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps, hpas := f.Apps().V1().Deployments().Lister(), f.Autoscaling().V2().HorizontalPodAutoscalers().Lister()
	informerCtx, stop := context.WithCancel(ctx)
	defer f.Shutdown()
	defer stop()
	f.Start(informerCtx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}
	cached := func() []string {
		list, err := deps.List(labels.Everything())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range list {
			names = append(names, d.Namespace+"/"+d.Name)
		}
		slices.Sort(names)
		return names
	}
	if got := cached(); !slices.Equal(got, []string{"team-a/before", "team-b/before"}) {
		t.Fatalf("first list cached %v", got)
	}

	for _, ns := range namespaces {
		createDeployment(ctx, t, env, ns, "after")
	}
	if err := env.Client.AppsV1().Deployments("team-a").Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-b"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "after"}}}
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("team-b").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"team-a/after", "team-b/after", "team-b/before"}
	testbed.WaitFor(ctx, t, "the watches to bring both namespaces' changes", func() (bool, error) {
		_, err := hpas.HorizontalPodAutoscalers("team-b").Get("web")
		return slices.Equal(cached(), want) && err == nil, nil
	})
	if _, err := deps.Deployments("team-b").Get("after"); err != nil {
		t.Errorf("Get through the namespace index: %v", err)
	}
}

func createDeployment(ctx context.Context, t *testing.T, env *testbed.Env, ns, name string) {
	t.Helper()
	sel := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}}}}}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
