package deploy

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The controller's ServiceMonitors honor the labels of the series they
// scrape. A per-target series' namespace is its HPA's or ScaledObject's, on
// which it joins kube-state-metrics' and KEDA's series; without honorLabels
// Prometheus renames it exported_namespace and puts prescaler's own
// namespace in its place.
func TestServiceMonitorKeepsTheSeriesNamespace(t *testing.T) {
	t.Run("deploy/monitoring", func(t *testing.T) {
		requireHonorLabels(t, render(t, "monitoring"))
	})
	t.Run("chart", func(t *testing.T) {
		requireHonorLabels(t, newHelm(t).template(t, fullValues()...))
	})
}

func requireHonorLabels(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	eps, _, _ := unstructured.NestedSlice(mustFind(t, objs, "ServiceMonitor/prescaler").Object, "spec", "endpoints")
	if len(eps) == 0 {
		t.Fatal("the ServiceMonitor has no endpoints")
	}
	for _, ep := range eps {
		if ep.(map[string]any)["honorLabels"] != true {
			t.Errorf("ServiceMonitor endpoint %v lacks honorLabels: true", ep)
		}
	}
}
