package testbed

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// PodMetricsFunc returns the current value of a pod's custom metric, or
// false when the pod has no value. It is called concurrently.
type PodMetricsFunc func(namespace, pod, metric string) (float64, bool)

// The fake custom metrics API: an APIService backed by an ExternalName
// Service that points the aggregator at localhost, where the test process
// serves custom.metrics.k8s.io/v1beta2. (EndpointSlices may not hold
// loopback addresses; the aggregator's default cluster routing resolves an
// ExternalName Service to its name.)
const (
	customMetricsGroup   = "custom.metrics.k8s.io"
	customMetricsVersion = "v1beta2"
	customMetricsService = "testbed-custom-metrics"
)

// startCustomMetrics serves custom.metrics.k8s.io from this process and
// registers it with the aggregator.
func (e *Env) startCustomMetrics(ctx context.Context, fn PodMetricsFunc) error {
	// The aggregator checks the certificate against the APIService's
	// caBundle for the name <service>.<namespace>.svc.
	serving, err := e.pki.ca.issue(newServingTemplate(customMetricsService + ".kube-system.svc"))
	if err != nil {
		return err
	}
	tlsConfig, err := tlsServerConfig(serving)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	e.metricsServer = &http.Server{
		Handler:           customMetricsHandler(e, fn),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsConfig,
	}
	go func() { _ = e.metricsServer.ServeTLS(ln, "", "") }()

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: customMetricsService, Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(port)}},
		},
	}
	if _, err := e.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("custom metrics service: %w", err)
	}
	dyn, err := dynamic.NewForConfig(e.RESTConfig)
	if err != nil {
		return err
	}
	apiServices := dyn.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	name := customMetricsVersion + "." + customMetricsGroup
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group":                customMetricsGroup,
			"version":              customMetricsVersion,
			"groupPriorityMinimum": int64(100),
			"versionPriority":      int64(100),
			"caBundle":             base64.StdEncoding.EncodeToString(e.pki.ca.pem),
			"service": map[string]any{
				"namespace": "kube-system",
				"name":      customMetricsService,
				"port":      int64(port),
			},
		},
	}}
	if _, err := apiServices.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("custom metrics APIService: %w", err)
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, e.opts.StartTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := apiServices.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", m["reason"], m["message"])
				return m["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("APIService %s not Available (%s): %w", name, last, err)
	}
	return nil
}

// customMetricsHandler serves discovery and
// /apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/pods/NAME|*/METRIC, the
// only form the HPA controller asks for Pods metrics. Pods are listed from
// the API server with the request's labelSelector.
func customMetricsHandler(e *Env, fn PodMetricsFunc) http.Handler {
	gv := customMetricsGroup + "/" + customMetricsVersion
	prefix := "/apis/" + gv
	mux := http.NewServeMux()
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "APIGroupList", "apiVersion": "v1",
			"groups": []any{map[string]any{
				"name":             customMetricsGroup,
				"versions":         []any{map[string]any{"groupVersion": gv, "version": customMetricsVersion}},
				"preferredVersion": map[string]any{"groupVersion": gv, "version": customMetricsVersion},
			}},
		})
	})
	// Minimal OpenAPI documents, so the aggregator's OpenAPI merge has
	// something to download.
	mux.HandleFunc("/openapi/v2", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"swagger": "2.0", "info": map[string]any{"title": "testbed custom metrics", "version": customMetricsVersion},
			"paths": map[string]any{},
		})
	})
	mux.HandleFunc("/openapi/v3", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{
			"apis/" + gv: map[string]any{"serverRelativeURL": "/openapi/v3/apis/" + gv},
		}})
	})
	mux.HandleFunc("/openapi/v3/apis/"+gv, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"openapi": "3.0.0", "info": map[string]any{"title": "testbed custom metrics", "version": customMetricsVersion},
			"paths": map[string]any{},
		})
	})
	mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
			"resources": []any{map[string]any{
				"name": "pods/*", "singularName": "", "namespaced": true,
				"kind": "MetricValueList", "verbs": []string{"get"},
			}},
		})
	})
	mux.HandleFunc(prefix+"/namespaces/{ns}/pods/{pod}/{metric}", func(w http.ResponseWriter, r *http.Request) {
		ns, pod, metric := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("metric")
		var pods []corev1.Pod
		if pod == "*" {
			list, err := e.Client.CoreV1().Pods(ns).List(r.Context(), metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")})
			if err != nil {
				writeStatus(w, http.StatusInternalServerError, err.Error())
				return
			}
			pods = list.Items
		} else {
			p, err := e.Client.CoreV1().Pods(ns).Get(r.Context(), pod, metav1.GetOptions{})
			if err != nil {
				writeStatus(w, http.StatusNotFound, err.Error())
				return
			}
			pods = []corev1.Pod{*p}
		}
		now := time.Now().UTC().Format(time.RFC3339)
		items := []any{}
		for _, p := range pods {
			v, ok := fn(ns, p.Name, metric)
			if !ok {
				continue
			}
			items = append(items, map[string]any{
				"describedObject": map[string]any{"kind": "Pod", "namespace": ns, "name": p.Name, "apiVersion": "/v1"},
				"metric":          map[string]any{"name": metric},
				"timestamp":       now,
				"windowSeconds":   int64(60),
				"value":           quantity(v),
			})
		}
		if pod != "*" && len(items) == 0 {
			writeStatus(w, http.StatusNotFound, fmt.Sprintf("no metric %s for pod %s/%s", metric, ns, pod))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "MetricValueList", "apiVersion": gv, "metadata": map[string]any{}, "items": items,
		})
	})
	return mux
}

// quantity renders v as a Kubernetes quantity with milli precision.
func quantity(v float64) string {
	q := resource.NewMilliQuantity(int64(v*1000+0.5*sign(v)), resource.DecimalSI)
	return q.String()
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": msg, "code": code, "reason": strings.ReplaceAll(http.StatusText(code), " ", ""),
	})
}

// stopCustomMetrics closes the in-process server (no-op when not started).
func (e *Env) stopCustomMetrics() error {
	if e.metricsServer == nil {
		return nil
	}
	err := e.metricsServer.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
