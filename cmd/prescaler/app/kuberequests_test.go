package app

import (
	"net/http"
	"net/url"
	"testing"
)

func TestRequestKind(t *testing.T) {
	for _, c := range []struct{ method, path, verb, resource string }{
		{"GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/inference-hpa", "get", "horizontalpodautoscalers"},
		{"GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", "list", "horizontalpodautoscalers"},
		{"GET", "/apis/autoscaling/v2/horizontalpodautoscalers?watch=true&resourceVersion=5", "watch", "horizontalpodautoscalers"},
		{"GET", "/apis/apps/v1/namespaces/default/deployments/ai-inference/scale", "get", "deployments/scale"},
		{"PATCH", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/inference-hpa", "patch", "horizontalpodautoscalers"},
		{"POST", "/api/v1/namespaces/default/events", "create", "events"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/prescaler/leases/prescaler", "update", "leases"},
		{"GET", "/api/v1/nodes", "list", "nodes"},
		{"GET", "/api/v1/namespaces/default", "get", "namespaces"},
		{"GET", "/apis", "get", "apis"},
		{"GET", "/version", "get", "version"},
	} {
		u, err := url.Parse("https://apiserver" + c.path)
		if err != nil {
			t.Fatal(err)
		}
		verb, resource := requestKind(&http.Request{Method: c.method, URL: u})
		if verb != c.verb || resource != c.resource {
			t.Errorf("%s %s: %s %s, want %s %s", c.method, c.path, verb, resource, c.verb, c.resource)
		}
	}
}
