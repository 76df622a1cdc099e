package app

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// kubeRequests counts prescaler's requests to the Kubernetes API server by
// verb, resource and status code: what a platform team asks of a
// controller ("how much does it cost the API server?"), and what shows that
// a loop whose decisions change nothing reads from informers alone.
type kubeRequests struct {
	next  http.RoundTripper
	total *prometheus.CounterVec
}

// newKubeRequestsMetric registers prescaler_kube_requests_total.
func newKubeRequestsMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "kube_requests_total",
		Help: "Requests to the Kubernetes API server by verb (get, list, watch, create, update, patch, delete), resource (with its subresource, e.g. deployments/scale; the first path element for non-resource requests) and HTTP status code (\"error\": no response)."},
		[]string{"verb", "resource", "code"})
	reg.MustRegister(c)
	return c
}

// countKubeRequests is a rest.Config transport wrapper that counts every
// request into total.
func countKubeRequests(total *prometheus.CounterVec) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper { return &kubeRequests{next: next, total: total} }
}

func (k *kubeRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := k.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	verb, resource := requestKind(r)
	k.total.WithLabelValues(verb, resource, code).Inc()
	return resp, err
}

// requestKind names a request as the API server's audit log does: the verb
// from the method (a GET is a get, a list or a watch) and the resource from
// the path, /api/v1/… or /apis/GROUP/VERSION/…, then namespaces/NS/ when
// namespaced, then RESOURCE[/NAME[/SUBRESOURCE]].
func requestKind(r *http.Request) (verb, resource string) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		rest = segs[3:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	named := len(rest) >= 2
	switch {
	case len(rest) == 0:
		resource = segs[0]
	case len(rest) >= 3:
		resource = rest[0] + "/" + rest[2]
	default:
		resource = rest[0]
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			verb = "watch"
		case named || len(rest) == 0:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	default:
		verb = strings.ToLower(r.Method)
	}
	return verb, resource
}
