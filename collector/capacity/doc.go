// Package capacity answers the question prescaler must ask before it raises
// a floor: how many more replicas of this target can the cluster schedule
// now? The scaler bounds its decision by the answer
// (scaler.Inputs.CapacityReplicas = Target.Replicas()), so a raised
// minReplicas never creates Pending pods.
//
// # The estimate
//
// Capacity is resource arithmetic, as in karpenter
// (pkg/utils/resources: Fits, Subtract), on a snapshot of nodes and pods.
// For each node:
//
//  1. Eligibility, the scheduler's node filters in this order: the node is
//     Ready (stricter than the scheduler, see ExcludedNotReady); not
//     cordoned (NodeUnschedulable, unless the template tolerates
//     node.kubernetes.io/unschedulable); every NoSchedule and NoExecute
//     taint is tolerated (TaintToleration; PreferNoSchedule only scores);
//     the nodeSelector and the required node affinity match (NodeAffinity;
//     preferred terms only score). Matching uses
//     k8s.io/component-helpers, the scheduler's own code.
//  2. free = allocatable − Σ requests of the pods bound to the node that are
//     not Succeeded or Failed (terminating pods still hold their room), and
//     of pods nominated to it by preemption.
//  3. copies = min over every resource r the template requests of
//     ⌊free_r / request_r⌋, "pods" included (one per copy against the node's
//     pods allocatable). The minimising r is reported as the node's Limit.
//  4. Host ports (NodePorts): a template that binds host ports fits at most
//     once per node, and not at all where a pod already binds one of them.
//  5. Required pod anti-affinity keyed on kubernetes.io/hostname
//     (InterPodAffinity, per node): a template that repels its own pods fits
//     at most once per node ("one replica per GPU node"), and not at all on
//     a node running a pod it repels or a pod that repels it.
//
// The total is Σ copies over nodes: per-node packing, since a pod never
// spans nodes (three nodes with 3 free GPUs each hold three 2-GPU pods, not
// four).
//
// Requests are counted as the scheduler counts them
// (k8s.io/component-helpers/resource.PodRequests, the function kube-scheduler
// calls): max(Σ containers + restartable sidecar init containers, each init
// container + the sidecars started before it), pod-level requests where set,
// plus the pod overhead; for bound pods, the larger of spec and in-place
// resize status. Amounts are compared in the scheduler's units (CPU in
// millicores, everything else as Quantity.Value), and every resource the
// scheduler checks is checked: cpu, memory, ephemeral-storage, pods, GPUs
// (nvidia.com/gpu), MIG slices (nvidia.com/mig-1g.10gb), any extended
// resource, hugepages.
//
// A Deployment's template is not the pod the scheduler sees: the API server
// defaults requests to limits (GPUs are usually written as limits only), a
// LimitRange fills default requests, a RuntimeClass adds pod overhead, a
// node selector and tolerations. Estimate applies the same changes first.
//
// # Known gaps
//
// Rules the estimate does not simulate; Result.Unmodelled names those the
// template uses, so the caller can say the number may be optimistic:
//
//   - required pod affinity; required pod anti-affinity on any other
//     topology key than the hostname (one per zone is a cap per domain), or
//     with a namespace selector that has labels, or with matchLabelKeys;
//     other pods' anti-affinity terms of those kinds are ignored;
//   - topology spread constraints with whenUnsatisfiable: DoNotSchedule;
//   - volumes: PVC binding, volume zones, CSI attach limits;
//   - dynamic resource allocation (resourceClaims, and extended resources
//     backed by DRA device classes);
//   - scheduler profile settings: ignored extended resources, added node
//     affinity, out-of-tree plugins;
//   - Pending pods of other workloads compete for the same free room;
//     Target.Pending counts the target's own, and nothing here predicts who
//     wins. Preemption by higher-priority pods is not simulated either.
//
// # Pure core, informer adapter
//
// Estimate and EstimateTarget are pure: plain values in (a Snapshot of API
// objects and a pod template), a Result out, no client, no clock, no
// logging. The inputs are corev1 objects rather than a model of our own
// because the rules are the scheduler's, and calling the scheduler's helpers
// on its own types is what keeps them exact; the output is this package's
// own types, and only an int32 crosses into the scaler. Collector is the
// adapter: it snapshots shared informer listers (nodes, pods, LimitRanges,
// RuntimeClasses: watches, no polling lists) and calls the pure functions.
package capacity
