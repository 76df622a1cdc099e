package capacity

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
)

// Snapshot is the cluster state an estimate is computed on. The objects are
// read, never modified, so an adapter may pass its informer caches' objects
// without copying.
type Snapshot struct {
	Nodes []*corev1.Node
	// Pods are the cluster's pods, all namespaces: those bound to a node (or
	// nominated to one by preemption) hold its resources. Succeeded and
	// Failed pods are skipped.
	Pods []*corev1.Pod
	// LimitRanges and RuntimeClasses change a template's pods at admission
	// (default requests, pod overhead, node selector and tolerations).
	LimitRanges    []*corev1.LimitRange
	RuntimeClasses []*nodev1.RuntimeClass

	// derived is what every estimate on this snapshot computes first,
	// computed once for all of them (nil: each estimate computes its own).
	derived *derived
}

// derived is a snapshot's nodes sorted by name, the room its pods take on
// each node and each node's allocatable resources in scheduler units: the
// part of an estimate that depends on the cluster, not on the template.
// Read only once computed.
type derived struct {
	once   sync.Once
	sorted []*corev1.Node
	use    map[string]*nodeUse
	alloc  map[string]Resources
}

// shared makes s compute its derived part once for every estimate made on
// it (Collector's snapshots are read by every target of a loop).
func (s Snapshot) shared() Snapshot {
	s.derived = &derived{}
	return s
}

// view returns the nodes sorted by name, each node's use and each node's
// allocatable resources (by node name).
func (s Snapshot) view() ([]*corev1.Node, map[string]*nodeUse, map[string]Resources) {
	compute := func() *derived {
		d := &derived{sorted: slices.Clone(s.Nodes), use: usage(s.Pods), alloc: make(map[string]Resources, len(s.Nodes))}
		slices.SortFunc(d.sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
		for _, n := range s.Nodes {
			d.alloc[n.Name] = allocatable(n)
		}
		return d
	}
	if s.derived == nil {
		d := compute()
		return d.sorted, d.use, d.alloc
	}
	s.derived.once.Do(func() {
		d := compute()
		s.derived.sorted, s.derived.use, s.derived.alloc = d.sorted, d.use, d.alloc
	})
	return s.derived.sorted, s.derived.use, s.derived.alloc
}

// Exclusion says why no copy of the template can go to a node, whatever its
// free resources.
type Exclusion string

// Exclusions, in the order they are checked.
const (
	// ExcludedNotReady: the node's Ready condition is not True. Stricter than
	// the scheduler, which relies on the not-ready taint the node lifecycle
	// controller adds a few seconds later: a NotReady node's capacity is not
	// capacity prescaler can promise.
	ExcludedNotReady Exclusion = "NotReady"
	// ExcludedCordoned: spec.unschedulable, and the template does not
	// tolerate node.kubernetes.io/unschedulable:NoSchedule.
	ExcludedCordoned Exclusion = "Cordoned"
	// ExcludedTaint: a NoSchedule or NoExecute taint the template does not
	// tolerate (PreferNoSchedule only steers scoring).
	ExcludedTaint Exclusion = "Taint"
	// ExcludedNodeSelector: the node's labels miss the template's nodeSelector.
	ExcludedNodeSelector Exclusion = "NodeSelector"
	// ExcludedNodeAffinity: the node matches no term of the template's
	// requiredDuringSchedulingIgnoredDuringExecution node affinity.
	ExcludedNodeAffinity Exclusion = "NodeAffinity"
)

// LimitHostPort is NodeFit.Limit when a host port the template uses bounds
// the node to one copy, or to none because a pod there holds the port.
const LimitHostPort = "hostPort"

// NodeFit is one node's part of an estimate.
type NodeFit struct {
	Node string
	// Copies is how many more copies of the template fit on the node.
	Copies int32
	// Limit is the resource that bounds Copies on an eligible node (a
	// resource name, or LimitHostPort); empty on an excluded node.
	Limit string
	// Excluded is why the node takes no copy whatever its resources; empty
	// when the node is eligible.
	Excluded Exclusion
	// Detail says which taint, or the free and requested amount of Limit.
	Detail string
	// Free is allocatable minus the requests of the pods on the node, for the
	// resources the template requests; nil on an excluded node.
	Free Resources
}

// String is a one-line account of the node, for logs and Events.
func (n NodeFit) String() string {
	if n.Excluded != "" {
		return fmt.Sprintf("%s: excluded (%s: %s)", n.Node, n.Excluded, n.Detail)
	}
	return fmt.Sprintf("%s: %d (%s)", n.Node, n.Copies, n.Detail)
}

// Result is how many more copies of a pod template the cluster can schedule
// now, and why, node by node.
type Result struct {
	// Copies is the total over nodes of the copies each one can hold on its
	// own: per-node packing, so three nodes with 3 free GPUs each hold three
	// 2-GPU pods, not four.
	Copies int32
	// Request is one copy's effective request, "pods" included.
	Request Resources
	// Nodes has one entry per node, by name.
	Nodes []NodeFit
	// Unmodelled lists scheduler rules the template uses that the estimate
	// does not simulate (see the package comment); when not empty, Copies
	// may be too high.
	Unmodelled []string
}

// Summary is a one-line account for an Event message:
// "7 more fit on 3/5 nodes (gpu-a: 3 (nvidia.com/gpu 6 free / 2)...); excluded: gpu-d NotReady".
func (r Result) Summary() string {
	var fits, excluded []string
	eligible := 0
	for _, n := range r.Nodes {
		switch {
		case n.Excluded != "":
			excluded = append(excluded, fmt.Sprintf("%s %s", n.Node, n.Excluded))
		case n.Copies > 0:
			eligible++
			fits = append(fits, fmt.Sprintf("%s %d", n.Node, n.Copies))
		default:
			eligible++
		}
	}
	s := fmt.Sprintf("%d more fit on %d eligible of %d nodes", r.Copies, eligible, len(r.Nodes))
	if len(fits) > 0 {
		s += " (" + strings.Join(fits, ", ") + ")"
	}
	if len(excluded) > 0 {
		s += "; excluded: " + strings.Join(excluded, ", ")
	}
	if len(r.Unmodelled) > 0 {
		s += "; not simulated: " + strings.Join(r.Unmodelled, ", ")
	}
	return s
}

// nodeUse is what the pods on one node hold.
type nodeUse struct {
	requested Resources
	hostPorts []corev1.ContainerPort
	pods      []*corev1.Pod
}

// Estimate computes how many more copies of template, created in namespace,
// kube-scheduler can place on the snapshot's nodes now. It applies the
// scheduler's filters (NodeUnschedulable, TaintToleration, NodeAffinity,
// NodeResourcesFit, NodePorts, and InterPodAffinity for hostname
// anti-affinity) to each node, plus the Ready check, and packs copies per
// node. It fails only on a template the API server would reject
// (an unknown RuntimeClass).
func Estimate(s Snapshot, namespace string, template *corev1.PodTemplateSpec) (Result, error) {
	pod, err := admit(template, namespace, s.LimitRanges, s.RuntimeClasses)
	if err != nil {
		return Result{}, err
	}
	terms, partial := hostnameAntiAffinity(pod)
	res := Result{Request: podRequest(pod), Unmodelled: unmodelled(pod, partial)}
	nodes, use, alloc := s.view()
	res.Nodes = make([]NodeFit, 0, len(nodes))
	wantPorts := hostPorts(pod)
	selfRepelling := false
	for _, t := range terms {
		selfRepelling = selfRepelling || t.matches(pod)
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	selectorOnly := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: corev1.PodSpec{NodeSelector: pod.Spec.NodeSelector}})

	var total int64
	for _, node := range nodes {
		fit := NodeFit{Node: node.Name}
		if ex, detail := exclude(node, pod, affinity, selectorOnly); ex != "" {
			fit.Excluded, fit.Detail = ex, detail
			res.Nodes = append(res.Nodes, fit)
			continue
		}
		u := use[node.Name]
		if u == nil {
			u = &nodeUse{}
		}
		fit.Free = freeFor(res.Request, alloc[node.Name], u.requested)
		n, limit := Copies(res.Request, fit.Free)
		fit.Limit = string(limit)
		fit.Detail = fmt.Sprintf("%s %s free / %s each", limit, amount(limit, fit.Free[limit]), amount(limit, res.Request[limit]))
		if len(wantPorts) > 0 {
			if port, clash := portConflict(wantPorts, u.hostPorts); clash {
				n, fit.Limit, fit.Detail = 0, LimitHostPort, fmt.Sprintf("host port %d/%s in use", port.HostPort, protocol(port))
			} else if n > 1 {
				n, fit.Limit, fit.Detail = 1, LimitHostPort, "copies share host ports: one per node"
			}
		}
		// A node without the hostname label is in no topology domain, and
		// the scheduler applies no hostname term there.
		if _, labelled := node.Labels[corev1.LabelHostname]; labelled && n > 0 {
			if other := antiAffinityConflict(pod, terms, u.pods); other != nil {
				n, fit.Limit, fit.Detail = 0, LimitPodAntiAffinity, fmt.Sprintf("pod %s/%s on the node and the template repel", other.Namespace, other.Name)
			} else if selfRepelling && n > 1 {
				n, fit.Limit, fit.Detail = 1, LimitPodAntiAffinity, "the template repels its own pods: one per node"
			}
		}
		fit.Copies = int32(min(n, math.MaxInt32))
		total += int64(fit.Copies)
		res.Nodes = append(res.Nodes, fit)
	}
	res.Copies = int32(min(total, math.MaxInt32))
	return res, nil
}

// exclude applies the node-level filters, in the order of the Exclusion
// constants, and says which one failed.
func exclude(node *corev1.Node, pod *corev1.Pod, affinity, selectorOnly nodeaffinity.RequiredNodeAffinity) (Exclusion, string) {
	if status, reason := ready(node); status != corev1.ConditionTrue {
		return ExcludedNotReady, fmt.Sprintf("Ready=%s %s", status, reason)
	}
	// The helpers take a logger for verbose tracing; the core logs nothing.
	logger := logr.Discard()
	if node.Spec.Unschedulable && !schedcorev1.TolerationsTolerateTaint(logger, pod.Spec.Tolerations,
		&corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}, false) {
		return ExcludedCordoned, "spec.unschedulable"
	}
	if taint, untolerated := schedcorev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false); untolerated {
		return ExcludedTaint, taint.ToString()
	}
	// An invalid selector (the API server validates them, so rare) matches
	// nothing, as in the scheduler.
	if ok, err := selectorOnly.Match(node); !ok || err != nil {
		return ExcludedNodeSelector, labels.FormatLabels(pod.Spec.NodeSelector)
	}
	if ok, err := affinity.Match(node); !ok || err != nil {
		if err != nil {
			return ExcludedNodeAffinity, err.Error()
		}
		return ExcludedNodeAffinity, "no required node affinity term matches"
	}
	return "", ""
}

// ready returns the status and reason of the node's Ready condition
// (Unknown when it has none).
func ready(node *corev1.Node) (corev1.ConditionStatus, string) {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.Reason
		}
	}
	return corev1.ConditionUnknown, "no Ready condition"
}

// usage adds up, node by node, what non-terminated pods hold: pods bound to
// a node, and pods nominated to one by preemption (the scheduler reserves
// their room for them; counting all of them, whatever their priority, errs
// on the safe side).
func usage(pods []*corev1.Pod) map[string]*nodeUse {
	use := map[string]*nodeUse{}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = p.Status.NominatedNodeName
		}
		if node == "" {
			continue
		}
		u := use[node]
		if u == nil {
			u = &nodeUse{requested: Resources{}}
			use[node] = u
		}
		u.requested.Add(boundRequest(p))
		u.pods = append(u.pods, p)
		u.hostPorts = append(u.hostPorts, hostPorts(p)...)
	}
	return use
}

// freeFor is allocatable − requested over the resources request names.
func freeFor(request, alloc, requested Resources) Resources {
	free := make(Resources, len(request))
	for name := range request {
		free[name] = alloc[name] - requested[name]
	}
	return free
}

// hostPorts returns the host ports the pod binds: those of its containers
// and of its restartable (sidecar) init containers (util.GetHostPorts).
func hostPorts(pod *corev1.Pod) []corev1.ContainerPort {
	var ports []corev1.ContainerPort
	add := func(c corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				ports = append(ports, p)
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c)
	}
	return ports
}

// portConflict reports the first wanted port that clashes with one in use:
// same protocol and port, and the same host IP or either side bound to all
// addresses (HostPortInfo.CheckConflict).
func portConflict(want, inUse []corev1.ContainerPort) (corev1.ContainerPort, bool) {
	for _, w := range want {
		for _, u := range inUse {
			if w.HostPort != u.HostPort || protocol(w) != protocol(u) {
				continue
			}
			wip, uip := hostIP(w), hostIP(u)
			if wip == uip || wip == "0.0.0.0" || uip == "0.0.0.0" {
				return w, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

func protocol(p corev1.ContainerPort) corev1.Protocol {
	return cmp.Or(p.Protocol, corev1.ProtocolTCP)
}

func hostIP(p corev1.ContainerPort) string { return cmp.Or(p.HostIP, "0.0.0.0") }

// amount formats a quantity in scheduler units.
func amount(name corev1.ResourceName, v int64) string {
	if name == corev1.ResourceCPU {
		return fmt.Sprintf("%dm", v)
	}
	return fmt.Sprint(v)
}

// unmodelled names the scheduling rules in pod that Estimate does not
// simulate, so that a caller can say its number may be optimistic.
// partialAntiAffinity says the template has required anti-affinity terms
// beyond the hostname ones Estimate applies.
func unmodelled(pod *corev1.Pod, partialAntiAffinity bool) []string {
	var out []string
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			out = append(out, "podAffinity")
		}
		if partialAntiAffinity {
			out = append(out, "podAntiAffinity")
		}
	}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			out = append(out, "topologySpreadConstraints")
			break
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			out = append(out, "persistentVolumes")
			break
		}
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		out = append(out, "resourceClaims")
	}
	return out
}
