package nodepool

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// valueSet is the set of values a label may take on a node, as Karpenter
// models a requirement (sigs.k8s.io/karpenter pkg/scheduling): a finite set
// (In; DoesNotExist is the empty one, since a missing label has no value)
// or the complement of one (NotIn; Exists is the complement of the empty
// set), narrowed to integers within inclusive bounds for Gt n (≥ n+1),
// Lt n (≤ n−1), and Karpenter's Gte and Lte.
type valueSet struct {
	complement bool
	values     sets.Set[string]
	gte, lte   *int64
}

// newValueSet is the set one requirement allows.
func newValueSet(op corev1.NodeSelectorOperator, values []string) (valueSet, error) {
	switch op {
	case corev1.NodeSelectorOpIn:
		if len(values) == 0 {
			return valueSet{}, fmt.Errorf("operator In needs values")
		}
		return valueSet{values: sets.New(values...)}, nil
	case corev1.NodeSelectorOpNotIn:
		return valueSet{complement: true, values: sets.New(values...)}, nil
	case corev1.NodeSelectorOpExists:
		return valueSet{complement: true, values: sets.New[string]()}, nil
	case corev1.NodeSelectorOpDoesNotExist:
		return valueSet{values: sets.New[string]()}, nil
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt, OpGte, OpLte:
		return boundSet(op, values)
	}
	return valueSet{}, fmt.Errorf("operator %q is not In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte or Lte", op)
}

// boundSet is the set of integers a bound allows. Gt and Lt become
// inclusive bounds; Gt of the largest integer (or Lt of the smallest)
// allows nothing.
func boundSet(op corev1.NodeSelectorOperator, values []string) (valueSet, error) {
	if len(values) != 1 {
		return valueSet{}, fmt.Errorf("operator %s needs one integer value, has %d values", op, len(values))
	}
	n, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil {
		return valueSet{}, fmt.Errorf("operator %s: %q is not an integer", op, values[0])
	}
	nothing := valueSet{values: sets.New[string]()}
	s := valueSet{complement: true, values: sets.New[string]()}
	switch op {
	case corev1.NodeSelectorOpGt:
		if n == math.MaxInt64 {
			return nothing, nil
		}
		n++
		s.gte = &n
	case OpGte:
		s.gte = &n
	case corev1.NodeSelectorOpLt:
		if n == math.MinInt64 {
			return nothing, nil
		}
		n--
		s.lte = &n
	case OpLte:
		s.lte = &n
	}
	return s, nil
}

// negative reports whether the set is written as NotIn or DoesNotExist: it
// asks for a value to be absent rather than present. Karpenter lets such a
// requirement pass where the pool does not define the label, or defines it
// negatively too.
func (s valueSet) negative() bool {
	if s.complement {
		return s.values.Len() > 0
	}
	return s.values.Len() == 0
}

// intersect is the set both allow (Karpenter's Requirement.Intersection).
func (s valueSet) intersect(o valueSet) valueSet {
	gte, lte := maxBound(s.gte, o.gte), minBound(s.lte, o.lte)
	if gte != nil && lte != nil && *gte > *lte {
		return valueSet{values: sets.New[string]()}
	}
	out := valueSet{complement: s.complement && o.complement, gte: gte, lte: lte}
	switch {
	case s.complement && o.complement:
		out.values = s.values.Union(o.values)
	case s.complement:
		out.values = o.values.Difference(s.values)
	case o.complement:
		out.values = s.values.Difference(o.values)
	default:
		out.values = s.values.Intersection(o.values)
	}
	for v := range out.values {
		if !withinBounds(v, gte, lte) {
			out.values.Delete(v)
		}
	}
	if !out.complement {
		// A finite set has had its bounds applied.
		out.gte, out.lte = nil, nil
	}
	return out
}

// intersects reports whether a value exists that both sets allow
// (Karpenter's Requirement.HasIntersection).
func (s valueSet) intersects(o valueSet) bool {
	gte, lte := maxBound(s.gte, o.gte), minBound(s.lte, o.lte)
	if gte != nil && lte != nil && *gte > *lte {
		return false
	}
	switch {
	case s.complement && o.complement:
		// Two complements of finite sets always share a value (the bounds,
		// if any, leave a non-empty range, and infinitely many integers).
		return true
	case s.complement:
		return anyAllowed(o.values, s.values, gte, lte)
	case o.complement:
		return anyAllowed(s.values, o.values, gte, lte)
	}
	for v := range s.values {
		if o.values.Has(v) && withinBounds(v, gte, lte) {
			return true
		}
	}
	return false
}

// anyAllowed reports whether some value of finite is not excluded and
// within the bounds.
func anyAllowed(finite, excluded sets.Set[string], gte, lte *int64) bool {
	for v := range finite {
		if !excluded.Has(v) && withinBounds(v, gte, lte) {
			return true
		}
	}
	return false
}

// String writes the set as a requirement: "In [a b]", "NotIn [a]",
// "Exists >=5", "DoesNotExist".
func (s valueSet) String() string {
	var b strings.Builder
	switch {
	case s.complement && s.values.Len() > 0:
		fmt.Fprintf(&b, "NotIn %v", sets.List(s.values))
	case s.complement:
		b.WriteString("Exists")
	case s.values.Len() > 0:
		fmt.Fprintf(&b, "In %v", sets.List(s.values))
	default:
		b.WriteString("DoesNotExist")
	}
	if s.gte != nil {
		fmt.Fprintf(&b, " >=%d", *s.gte)
	}
	if s.lte != nil {
		fmt.Fprintf(&b, " <=%d", *s.lte)
	}
	return b.String()
}

func withinBounds(v string, gte, lte *int64) bool {
	if gte == nil && lte == nil {
		return true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false
	}
	return (gte == nil || n >= *gte) && (lte == nil || n <= *lte)
}

func maxBound(a, b *int64) *int64 {
	if a == nil || (b != nil && *b > *a) {
		return b
	}
	return a
}

func minBound(a, b *int64) *int64 {
	if a == nil || (b != nil && *b < *a) {
		return b
	}
	return a
}

// requirements maps a label key to the values a node may have for it.
// Several requirements on one key narrow each other (their intersection).
type requirements map[string]valueSet

func (r requirements) add(key string, s valueSet) {
	key = normalizedKey(key)
	if have, ok := r[key]; ok {
		s = have.intersect(s)
	}
	r[key] = s
}

func (r requirements) addAll(reqs []corev1.NodeSelectorRequirement) error {
	for _, req := range reqs {
		s, err := newValueSet(req.Operator, req.Values)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Key, err)
		}
		r.add(req.Key, s)
	}
	return nil
}

func (r requirements) addLabels(labels map[string]string) {
	for k, v := range labels {
		r.add(k, valueSet{values: sets.New(v)})
	}
}

// normalizedKey maps the deprecated beta labels a pod may still select on
// to the labels Karpenter's nodes carry (Karpenter's NormalizedLabels).
func normalizedKey(key string) string {
	switch key {
	case corev1.LabelFailureDomainBetaZone:
		return corev1.LabelTopologyZone
	case corev1.LabelFailureDomainBetaRegion:
		return corev1.LabelTopologyRegion
	case "beta.kubernetes.io/arch":
		return corev1.LabelArchStable
	case "beta.kubernetes.io/os":
		return corev1.LabelOSStable
	case corev1.LabelInstanceType:
		return corev1.LabelInstanceTypeStable
	}
	return key
}

// wellKnown reports whether the key is one whose values come from the
// instance types and offerings Karpenter launches, so a pool need not name
// it for a pod to select it: Karpenter's WellKnownLabels, and the labels
// its cloud providers add, which live in their own karpenter.<provider>
// domains (karpenter.k8s.aws/instance-gpu-name, karpenter.kwok.sh/...).
// Whether an offered instance type has the value the pod asks for cannot
// be seen through the API: the pool is assumed to offer one.
func wellKnown(key string) bool {
	switch key {
	case LabelNodePool, "karpenter.sh/capacity-type",
		corev1.LabelTopologyZone, corev1.LabelTopologyRegion, corev1.LabelInstanceTypeStable,
		corev1.LabelArchStable, corev1.LabelOSStable, corev1.LabelWindowsBuild:
		return true
	}
	domain, _, found := strings.Cut(key, "/")
	return found && strings.HasPrefix(domain, "karpenter.") && domain != "karpenter.sh"
}

// compatible reports whether a node of the pool can meet the pod's
// requirements, as Karpenter's Requirements.Compatible with
// AllowUndefinedWellKnownLabels decides, and says why not:
//   - a label the pod requires (In, Exists, Gt, Lt) must be one the pool
//     defines, unless it is well known;
//   - where both define a label, some value must satisfy both, unless both
//     only exclude values (NotIn, DoesNotExist).
func compatible(pool, pod requirements) (bool, string) {
	keys := make([]string, 0, len(pod))
	for k := range pod {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		want := pod[key]
		have, defined := pool[key]
		if !defined {
			if wellKnown(key) || want.negative() {
				continue
			}
			return false, fmt.Sprintf("label %s (%s) is not one the pool's nodes carry", key, want)
		}
		if !have.intersects(want) && !(want.negative() && have.negative()) {
			return false, fmt.Sprintf("%s: the pool has %s, the pod needs %s", key, have, want)
		}
	}
	return true, ""
}
