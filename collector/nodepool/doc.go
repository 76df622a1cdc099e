// Package nodepool answers the two questions prescaler asks where a node
// autoscaler adds GPU nodes on demand: how many more replicas of a target
// may the node pools still add nodes for (scaler.Inputs.ProvisionableReplicas),
// and how long does a new node take to be Ready (scaler.Inputs.NodeLead).
// Where no node autoscaler runs, neither is asked, and the fixed pool of
// nodes is collector/capacity's alone.
//
// # Which pools can take the pod
//
// A Karpenter v1 NodePool (karpenter.sh/v1) is read into a Pool: its
// requirements, the labels its nodes carry, its taints, its limits and what
// it holds now (status.resources), and its state. Karpenter's provisioner
// skips a NodePool being deleted, a static one (spec.replicas) and one whose
// Ready condition is not True; then it adds a node from a pool for a pod
// only where (sigs.k8s.io/karpenter, NodeClaim.CanAdd):
//
//   - every NoSchedule and NoExecute taint of the pool is tolerated
//     (startupTaints are gone before pods schedule; PreferNoSchedule taints
//     are relaxed away);
//   - the pod's nodeSelector and one of its required node affinity terms
//     are compatible with the pool's requirements and labels. Each label key
//     stands for a set of values (In, NotIn, Exists, DoesNotExist, and
//     integer bounds for Gt, Lt, Gte, Lte); where both sides constrain a key,
//     some value must satisfy both, unless both only exclude values; a label
//     the pod requires must be one the pool defines, unless it is well known
//     (zone, region, instance type, arch, os, capacity type, and the
//     karpenter.<provider> labels), whose values the instance types provide.
//     A new node's hostname is not known, so a pod bound to named hosts gets
//     none. Preferred terms are relaxed away and do not count.
//
// # How many replicas
//
// For each compatible pool, remaining_r = limits_r − status.resources_r,
// never negative, for each resource r in spec.limits, and
//
//	replicas = min over the limited resources the pod requests of ⌊remaining_r / request_r⌋
//
// with two refinements. With gpusPerNode (G) set, GPUs pack per node: a pod
// never spans nodes, so the R GPUs left hold ⌊R/G⌋·⌊G/g⌋ + ⌊(R mod G)/g⌋
// replicas of g GPUs (see packedReplicas). A node count limit ("nodes")
// allows the nodes left times ⌊G/g⌋ replicas each (one each when G is not
// known). A pool whose limits name nothing the pod requests is unbounded:
// Result.Unbounded, and the caller bounds it by the HPA's maxReplicas
// (Result.Within). The pools are alternatives, each drawn on up to its own
// limit, so the result is the sum over the compatible pools.
//
// # Node lead time
//
// A NodeClaim's start-up runs from its creationTimestamp to the
// lastTransitionTime of its Ready condition (launched, registered,
// initialized: Karpenter marks a node initialized once its extended
// resources, the GPUs, are registered). The Collector records each
// NodeClaim's first Ready as its informer sees it, so that a later flap or
// a NodeClaim consolidated away does not lose the sample; samples are kept
// for a retention. The estimate is the 90th percentile
// (startup.Quantile) of the start-ups that became Ready in a window, from
// at least MinSamples of them; with fewer, ErrTooFewSamples, and the
// daemon keeps its configured lead time. Without Karpenter, Nodes are
// measured the same way (NodeSamples).
//
// # Pure core, informer adapter
//
// ParseNodePool, Compatible, Provisionable, SelectLeads and LeadP90 are
// pure: plain values in, plain values out, no client, no clock, no logging.
// Collector is the adapter: a dynamic informer for NodePools and
// NodeClaims, created only where Available finds Karpenter's API served,
// and the shared Node informer. A NodePool that cannot be read is reported
// as excluded (Malformed) and the others still count.
//
// # Known gaps
//
//   - Instance types: what the cloud provider offers is not visible through
//     the API, so the node size (gpusPerNode) comes from the configuration,
//     and a well-known label the pod selects (an instance GPU name, a zone)
//     is assumed offered. A pool offering no instance type large enough for
//     the pod is not detected, unless gpusPerNode says so.
//   - Karpenter launches a node only if its whole capacity fits within what
//     the limits leave. The GPUs left after whole nodes (R mod G) count only
//     if the pool offers a smaller instance type (PoolFit.PartialNode says
//     how many replicas that is). For cpu and memory limits the bound
//     divides by the pod's request, but a node brings more cpu and memory
//     than its pods request: such a bound is optimistic.
//   - NodePool weights (which pool Karpenter tries first), disruption
//     budgets and consolidation, minValues, and daemonset overhead are not
//     modelled; neither are topology spread, pod affinity, volumes or DRA.
//   - The template goes through the API server's request defaulting
//     (PodFromTemplate) but not LimitRanges or RuntimeClasses; pass an
//     admitted pod to Provisionable where they matter.
//   - The cluster autoscaler's node group limits, labels and taints are not
//     readable through the API: ConfiguredPool (and
//     Collector.ClusterAutoscalerProvisionable) take a configured GPU total,
//     count every GPU node's capacity as held, and take every pod to fit. Its Nodes are measured from creation, which is the kubelet's
//     registration, so the machine's boot before it is missed, and from
//     Node Ready, which comes before the GPU device plugin registers the
//     GPUs: the lead measured is short of the real one.
package nodepool
