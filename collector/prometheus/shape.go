package prometheus

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// A shape is what a query has in common with the same query for other
// targets: the query with the values of its key labels taken out. A key
// label is one that every selector of the query matches with = and one
// value, such as namespace="team-a" and service="llama" in
//
//	sum(rate(ai_requests_total{namespace="team-a",service="llama"}[1m])) * 60
//
// Queries of one shape are read together: the key matchers become regular
// expressions over every query's values, each aggregation and each on(...)
// also groups by the key labels, and the answer is split back by their
// values (see Batcher):
//
//	sum by (namespace, service) (rate(ai_requests_total{namespace=~"team-a|team-b",service=~"llama|mistral"}[1m])) * 60
//
// That gives each query the series it would have given alone as long as
// nothing in it drops or rewrites a key label, so queries that could are
// not given a shape: label_replace, label_join, absent, absent_over_time,
// scalar, vector, info and functions called with no argument (time(),
// hour()...), an aggregation "without" a key label, and a match
// "ignoring" one.
type shape struct {
	// key is the query printed with each key value replaced by one
	// placeholder: equal for queries that differ only in key values.
	key string
	// labels are the key labels, sorted; values the query's value of each.
	labels, values []string
}

// promqlParser parses with Prometheus' default options: the queries the
// server accepts without feature flags.
var promqlParser = parser.NewParser(parser.Options{})

// shapePlaceholder stands for a key value in a shape's key; it cannot
// appear in a parsed label value printed by Go's strconv.Quote.
const shapePlaceholder = "\x00"

// noShapeCalls are the functions whose result does not keep the key labels
// of their argument as they are.
var noShapeCalls = map[string]bool{
	"label_replace": true, "label_join": true, "absent": true, "absent_over_time": true,
	"scalar": true, "vector": true, "info": true,
}

// parseShape returns the shape of query; ok is false when it has none (it
// does not parse, has no key label, or could lose a key label on the way).
func parseShape(query string) (s shape, ok bool) {
	expr, err := promqlParser.ParseExpr(query)
	if err != nil {
		return shape{}, false
	}
	keys, ok := keyLabels(expr)
	if !ok || len(keys) == 0 {
		return shape{}, false
	}
	s.labels = slices.Sorted(maps.Keys(keys))
	for _, l := range s.labels {
		s.values = append(s.values, keys[l])
	}
	if !groupsBy(expr, s.labels) {
		return shape{}, false
	}
	setKeyMatchers(expr, s.labels, func(string) (labels.MatchType, string) { return labels.MatchEqual, shapePlaceholder })
	s.key = expr.String()
	return s, true
}

// keyLabels finds the labels every selector of expr matches with = and the
// same value throughout, with that value; ok is false when expr holds a
// node that could drop or rewrite labels.
func keyLabels(expr parser.Expr) (map[string]string, bool) {
	var selectors []*parser.VectorSelector
	ok := true
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			selectors = append(selectors, n)
		case *parser.Call:
			if noShapeCalls[n.Func.Name] || len(n.Args) == 0 {
				ok = false
			}
		}
		return nil
	})
	if !ok || len(selectors) == 0 {
		return nil, false
	}
	keys := equalityMatchers(selectors[0])
	for _, vs := range selectors[1:] {
		other := equalityMatchers(vs)
		for l, v := range keys {
			if w, found := other[l]; !found || w != v {
				delete(keys, l)
			}
		}
	}
	return keys, true
}

// equalityMatchers are a selector's label = value matchers, the metric
// name aside; a label matched twice is left out.
func equalityMatchers(vs *parser.VectorSelector) map[string]string {
	out := map[string]string{}
	seen := map[string]int{}
	for _, m := range vs.LabelMatchers {
		seen[m.Name]++
		if m.Type == labels.MatchEqual && m.Name != labels.MetricName {
			out[m.Name] = m.Value
		}
	}
	for l := range out {
		if seen[l] > 1 {
			delete(out, l)
		}
	}
	return out
}

// groupsBy adds the key labels to every aggregation's "by" and every
// "on(...)" match of expr, so that they survive to the result; false when
// an aggregation "without" or a match "ignoring" names one of them.
func groupsBy(expr parser.Expr, keys []string) bool {
	ok := true
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.AggregateExpr:
			n.Grouping, ok = withKeys(n.Grouping, !n.Without, keys, ok)
		case *parser.BinaryExpr:
			if m := n.VectorMatching; m != nil && (m.On || len(m.MatchingLabels) > 0) {
				m.MatchingLabels, ok = withKeys(m.MatchingLabels, m.On, keys, ok)
			}
		}
		return nil
	})
	return ok
}

// withKeys adds keys to a "by"/"on" list (keep), or checks that a
// "without"/"ignoring" list names none of them.
func withKeys(list []string, keep bool, keys []string, ok bool) ([]string, bool) {
	if !keep {
		return list, ok && !slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(list, k) })
	}
	for _, k := range keys {
		if !slices.Contains(list, k) {
			list = append(list, k)
		}
	}
	return list, ok
}

// setKeyMatchers replaces, in every selector, the matcher of each key label
// with the one matcher(label) gives.
func setKeyMatchers(expr parser.Expr, keys []string, matcher func(label string) (labels.MatchType, string)) {
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for i, m := range vs.LabelMatchers {
			if slices.Contains(keys, m.Name) && m.Type == labels.MatchEqual {
				t, v := matcher(m.Name)
				// Both types are valid for any value; the regular
				// expression is built from quoted literals.
				vs.LabelMatchers[i] = labels.MustNewMatcher(t, m.Name, v)
			}
		}
		return nil
	})
}

// groupQuery is the query that reads every member of a shape at once:
// member is a query of the shape, and values[i] the key values, in
// s.labels' order, of each query to read.
func groupQuery(member string, s shape, values [][]string) (string, error) {
	expr, err := promqlParser.ParseExpr(member)
	if err != nil {
		return "", err
	}
	if !groupsBy(expr, s.labels) {
		return "", fmt.Errorf("query %q lost its shape", member)
	}
	setKeyMatchers(expr, s.labels, func(label string) (labels.MatchType, string) {
		i := slices.Index(s.labels, label)
		var alts []string
		for _, v := range values {
			alts = append(alts, regexp.QuoteMeta(v[i]))
		}
		slices.Sort(alts)
		return labels.MatchRegexp, strings.Join(slices.Compact(alts), "|")
	})
	return expr.String(), nil
}

// tupleKey joins key values into one map key.
func tupleKey(values []string) string { return strings.Join(values, "\x00") }
