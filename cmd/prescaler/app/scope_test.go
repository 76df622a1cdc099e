package app

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/prescaler/prescaler/config"
)

// With --namespace the Deployment and LimitRange caches hold that namespace
// alone, the pod cache every namespace (capacity counts every pod on a node).
func TestNamespaceScopesTheTargetInformers(t *testing.T) {
	var objs []runtime.Object
	for _, ns := range []string{"default", "other"} {
		meta := metav1.ObjectMeta{Name: "x", Namespace: ns}
		objs = append(objs, &appsv1.Deployment{ObjectMeta: meta}, &corev1.LimitRange{ObjectMeta: meta}, &corev1.Pod{ObjectMeta: meta})
	}
	cfg := &config.Config{Targets: []config.Target{{Name: "a", Namespace: "default"}}}
	f, err := newInformerFactory(fake.NewClientset(objs...), []string{"default"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps, lrs, pods := f.Apps().V1().Deployments().Lister(), f.Core().V1().LimitRanges().Lister(), f.Core().V1().Pods().Lister()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())

	if got, _ := deps.List(labels.Everything()); len(got) != 1 || got[0].Namespace != "default" {
		t.Errorf("Deployments cached: %d, want default's only", len(got))
	}
	if _, err := deps.Deployments("default").Get("x"); err != nil {
		t.Errorf("Get through the namespace index: %v", err)
	}
	if got, _ := lrs.List(labels.Everything()); len(got) != 1 || got[0].Namespace != "default" {
		t.Errorf("LimitRanges cached: %d, want default's only", len(got))
	}
	if got, _ := pods.List(labels.Everything()); len(got) != 2 {
		t.Errorf("pods cached: %d, want both namespaces'", len(got))
	}
}

func TestNamespaceMustHoldEveryTarget(t *testing.T) {
	cfg := &config.Config{Targets: []config.Target{{Name: "a", Namespace: "default"}, {Name: "b", Namespace: "ml"}}}
	_, err := newInformerFactory(fake.NewClientset(), []string{"default", "web"}, cfg)
	if err == nil || !strings.Contains(err.Error(), "--namespace default,web: target b is in namespace ml") {
		t.Fatalf("err %v, want target b named", err)
	}
	if _, err := newInformerFactory(fake.NewClientset(), nil, cfg); err != nil {
		t.Fatalf("without --namespace: %v", err)
	}
	if _, err := newInformerFactory(fake.NewClientset(), []string{"ml", "default"}, cfg); err != nil {
		t.Fatalf("with both namespaces: %v", err)
	}
}

func TestNamespaceListIsReadOnce(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"a", " b"}, ""},
		{[]string{"a", ""}, "an empty name"},
		{[]string{"a", "a"}, "a is named twice"},
	} {
		got, err := parseNamespaces(tc.in)
		switch {
		case tc.want == "" && (err != nil || len(got) != 2 || got[1] != "b"):
			t.Errorf("%q: %v, %v", tc.in, got, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}
