package capacity

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Resources is a set of resource amounts in the units kube-scheduler's
// NodeResourcesFit filter compares: CPU in millicores, every other resource
// (memory and ephemeral-storage in bytes, pods, GPUs, MIG slices, any
// extended resource, hugepages) as a whole number, rounded up the way
// resource.Quantity.Value rounds. Comparing in the scheduler's own units means
// a quantity such as "0.5" memory rounds the same way on both sides.
type Resources map[corev1.ResourceName]int64

// FromList converts an API resource list to scheduler units, keeping only the
// resources the scheduler checks (see scheduled).
func FromList(list corev1.ResourceList) Resources {
	r := make(Resources, len(list))
	for name, q := range list {
		switch {
		case name == corev1.ResourceCPU:
			r[name] = q.MilliValue()
		case scheduled(name):
			r[name] = q.Value()
		}
	}
	return r
}

// scheduled reports whether kube-scheduler's resource filter checks the
// resource: cpu, memory, ephemeral-storage, pods, and the "scalar" resources
// (extended resources such as nvidia.com/gpu and nvidia.com/mig-1g.10gb,
// prefixed native resources, hugepages-*, attachable-volumes-*). It mirrors
// Resource.Add in k8s.io/kubernetes/pkg/scheduler/framework and
// v1helper.IsScalarResourceName; API validation rejects any other name.
func scheduled(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		return true
	}
	s := string(name)
	return strings.Contains(s, "/") ||
		strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(s, corev1.ResourceAttachableVolumesPrefix)
}

// Add adds b to r in place.
func (r Resources) Add(b Resources) {
	for name, v := range b {
		r[name] += v
	}
}

// Subtract returns a − b over the names of a and b (a resource missing on
// one side counts as zero, so the result may be negative: an over-committed
// node).
func Subtract(a, b Resources) Resources {
	out := make(Resources, len(a))
	for name, v := range a {
		out[name] = v
	}
	for name, v := range b {
		out[name] -= v
	}
	return out
}

// Fits reports whether request fits in free: every positive request is at
// most the free amount (a resource free does not list is zero). It is
// NodeResourcesFit's test for one pod.
func Fits(request, free Resources) bool {
	n, _ := Copies(request, free)
	return n >= 1
}

// Copies returns how many copies of request fit in free,
// min over requested resources of ⌊free/request⌋, and the resource that
// sets that minimum (the first by name among ties; "" when request asks for
// nothing, and then the count is math.MaxInt64). Resources requested at zero
// are not checked, as in the scheduler.
func Copies(request, free Resources) (int64, corev1.ResourceName) {
	best, limit := int64(math.MaxInt64), corev1.ResourceName("")
	for _, name := range request.names() {
		want := request[name]
		if want <= 0 {
			continue
		}
		n := max(free[name], 0) / want
		if n < best {
			best, limit = n, name
		}
	}
	return best, limit
}

// names returns the resource names in order, for stable output and ties.
func (r Resources) names() []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// String formats the amounts by name: "cpu=500m memory=1073741824 nvidia.com/gpu=2".
func (r Resources) String() string {
	var b strings.Builder
	for i, name := range r.names() {
		if i > 0 {
			b.WriteByte(' ')
		}
		if name == corev1.ResourceCPU {
			fmt.Fprintf(&b, "%s=%dm", name, r[name])
			continue
		}
		fmt.Fprintf(&b, "%s=%d", name, r[name])
	}
	return b.String()
}
