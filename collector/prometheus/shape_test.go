package prometheus

import (
	"reflect"
	"testing"
)

func TestShapes(t *testing.T) {
	for _, c := range []struct {
		name, query    string
		ok             bool
		labels, values []string
	}{
		{"a rate summed", `sum(rate(ai_requests_total{namespace="a",service="llama"}[1m])) * 60`, true,
			[]string{"namespace", "service"}, []string{"a", "llama"}},
		{"a ratio of two selectors sharing the keys",
			`histogram_quantile(0.95, sum by (le) (rate(lat_bucket{namespace="a",service="x"}[5m])))`, true,
			[]string{"namespace", "service"}, []string{"a", "x"}},
		{"a label only one selector has is no key",
			`sum(rate(req{namespace="a",code="200"}[1m])) / sum(rate(req{namespace="a"}[1m]))`, true,
			[]string{"namespace"}, []string{"a"}},
		{"regex matchers are not keys", `sum(rate(req{namespace=~"a|b"}[1m]))`, false, nil, nil},
		{"label_replace could rewrite a key", `label_replace(req{namespace="a"}, "namespace", "b", "", "")`, false, nil, nil},
		{"scalar has no labels", `scalar(sum(req{namespace="a"}))`, false, nil, nil},
		{"without the key", `sum without (namespace) (req{namespace="a"})`, false, nil, nil},
		{"without another label", `sum without (pod) (req{namespace="a"})`, true, []string{"namespace"}, []string{"a"}},
		{"ignoring the key", `a{namespace="a"} / ignoring (namespace) b{namespace="a"}`, false, nil, nil},
		{"not PromQL", `sum(`, false, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, ok := parseShape(c.query)
			if ok != c.ok || !reflect.DeepEqual(s.labels, c.labels) || !reflect.DeepEqual(s.values, c.values) {
				t.Errorf("parseShape = %+v, %v; want labels %v values %v, %v", s, ok, c.labels, c.values, c.ok)
			}
		})
	}
}

// Queries that differ only in key values have one shape, and the group
// query reads them all, keeping the key labels through every aggregation.
func TestGroupQuery(t *testing.T) {
	a, okA := parseShape(`sum(rate(ai_requests_total{namespace="team-a",service="llama"}[1m])) * 60`)
	b, okB := parseShape(`sum(rate(ai_requests_total{service="mistral",namespace="team.b"}[1m]))*60`)
	other, _ := parseShape(`sum(rate(ai_requests_total{namespace="team-a",service="llama"}[5m])) * 60`)
	if !okA || !okB || a.key != b.key || a.key == other.key {
		t.Fatalf("shapes: %q, %q, %q", a.key, b.key, other.key)
	}
	q, err := groupQuery(`sum(rate(ai_requests_total{namespace="team-a",service="llama"}[1m])) * 60`, a, [][]string{a.values, b.values})
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (namespace, service) (rate(ai_requests_total{namespace=~"team-a|team\\.b",service=~"llama|mistral"}[1m])) * 60`
	if q != want {
		t.Errorf("group query\n%s\nwant\n%s", q, want)
	}
	h, _ := parseShape(`histogram_quantile(0.95, sum by (le) (rate(lat_bucket{namespace="a"}[5m]))) / on () group_left sum(up{namespace="a"})`)
	q, err = groupQuery(`histogram_quantile(0.95, sum by (le) (rate(lat_bucket{namespace="a"}[5m]))) / on () group_left sum(up{namespace="a"})`, h, [][]string{{"a"}, {"b"}})
	if err != nil {
		t.Fatal(err)
	}
	want = `histogram_quantile(0.95, sum by (le, namespace) (rate(lat_bucket{namespace=~"a|b"}[5m]))) / on (namespace) group_left () sum by (namespace) (up{namespace=~"a|b"})`
	if q != want {
		t.Errorf("group query\n%s\nwant\n%s", q, want)
	}
}
