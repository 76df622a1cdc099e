// Package placeholder keeps placeholder pods: preemptible pods that hold the
// room of real replicas so that GPU nodes come up before a forecast peak.
//
// Karpenter and the cluster autoscaler add nodes only for Pending pods. A
// target that opts in (nodes.placeholders) has its extra replicas asked for
// as N placeholder pods a node lead time ahead (scaler.Decision.Placeholders)
// instead of raising the floor that early: the placeholders go Pending, the
// node autoscaler adds nodes for them, and they hold those nodes. When the
// floor rises a lead time before the demand, the real pods, at a higher
// priority, preempt the placeholders at once and start on the nodes they
// kept.
//
// # The pure core and the adapter
//
// Spec builds the placeholder Deployment from plain values (a Target, the
// workload's pod template, N); PriorityClass the class they run at; Name,
// Labels and Requests are the rules Spec applies. Client is the adapter:
// Apply, Remove, List and EnsurePriorityClass on a kubernetes.Interface.
//
// # Why a Deployment
//
// N interchangeable pods are what a ReplicaSet keeps, and a preempted
// placeholder must come back: recreated at once by the ReplicaSet
// controller, it is Pending again and the node stays requested until
// prescaler lowers N. Bare pods would be recreated only on prescaler's next
// loop, and a ReplicaSet alone does not replace its pods when the template
// changes (a new GPU count, a new node selector); a Deployment does both,
// and scaling it is one field. The strategy is Recreate: a rolling update's
// surge pods would ask for nodes beyond N, and placeholders serve nothing
// whose availability a rollout must keep. The revision history is 0.
//
// # The placeholder pod
//
// One pause container (DefaultImage, configurable) requests what one
// replica requests as the scheduler counts it (Requests: requests defaulted
// from limits as the API server does, init containers and sidecars by the
// scheduler's own k8s.io/component-helpers/resource.PodRequests), with
// limits equal to requests. It keeps the workload's scheduling constraints
// that choose nodes and pools (nodeSelector, node affinity, tolerations,
// pod affinity, runtimeClassName, schedulerName, host ports) and retargets
// the spread and anti-affinity rules that concern the workload's own pods to
// the placeholders' own labels (see constrain for why not the workload's).
// It has no service account token, no service links, a grace period of 0
// and a restricted security context, and carries only
// app.kubernetes.io/managed-by=prescaler, app.kubernetes.io/component=placeholder
// and prescaler.io/placeholder-for=<target>: none of the workload's labels,
// so no Service sends it traffic and the workload's controller never adopts
// it. Spec refuses a workload whose selector or template labels would
// overlap the placeholders'.
//
// # Priority
//
// The class (DefaultPriorityClassName, created by EnsurePriorityClass or
// the install manifests; it must exist before the pods, or the API server
// rejects them) has value -1 and preemptionPolicy Never. -1 is below the
// default priority 0 of every pod without a class, so any of them preempts
// a placeholder (preemption needs a strictly higher priority), and above
// the cluster autoscaler's default --expendable-pods-priority-cutoff of
// -10, below which pods do not cause a scale-up: a lower value would bring
// no node up there. Never means a placeholder waits for room and never
// evicts anything to get it. A workload that itself runs in a class at or
// below the placeholders' value cannot preempt them, and its pods would
// wait behind them: give it a higher class.
//
// # What they cost
//
// A placeholder holds real room: each one keeps a replica's GPUs allocated
// and, through the node autoscaler, the nodes under them, billed as GPU
// hours from the moment they launch, one node lead time before the demand
// they are for. That is the price of a peak served on time instead of a node
// lead late; N is only the gap between what the forecast needs and the
// replicas that run or are asked for, and goes back to 0 once real
// replicas fill it. Apply the decision's N in the same loop as its floor: N
// falls as the floor rises, so few placeholders are left to be preempted.
// One that is preempted is recreated by its ReplicaSet and waits Pending
// until the next decision lowers N, and meanwhile it asks the node
// autoscaler for one more node, which is paid for until the autoscaler
// removes it again once empty.
//
// # Writes and cleanup
//
// Apply reads the Deployment and writes only when it differs: the hash of
// everything Spec decides but the replicas is kept in prescaler.io/placeholder-spec,
// so defaults the API server adds never count as a difference (and a hand
// edit of the template is kept until the spec changes). Updates carry the
// resourceVersion read and are retried on a conflict. A Deployment with the
// placeholder's name that is not the target's placeholder is never
// touched. N = 0 scales an existing Deployment to 0 and creates none: no
// pods, no cost, and no create/delete churn at every peak.
//
// Remove deletes a target's placeholder Deployments with background
// propagation (the garbage collector then deletes the ReplicaSet and the
// pods): the daemon calls it when a target leaves the configuration or
// turns placeholders off, and a sweep calls List to find every placeholder
// prescaler owns and removes those of targets no longer configured. With
// Target.Owner set to the workload, the garbage collector also removes the
// placeholders when the workload is deleted. To remove them all by hand:
//
//	kubectl delete deployment -A -l app.kubernetes.io/managed-by=prescaler,app.kubernetes.io/component=placeholder
//
// # RBAC
//
// In every target namespace: apps deployments get, list, create, update and
// delete. Cluster-wide: apps deployments list (List with namespace "",
// for the sweep) and scheduling.k8s.io priorityclasses get and create.
// Nothing on the workload: the owner reference never blocks its deletion.
//
// # Known limits
//
//   - A ResourceQuota counts placeholders: one on requests.nvidia.com/gpu
//     that they fill rejects the real pods at admission, before the
//     scheduler could preempt anything. Scope such a quota away from the
//     placeholder class (scopeSelector on PriorityClass).
//   - Volumes and resource claims (DRA) are not copied: a placeholder does
//     not hold a device claim or follow a volume's zone.
//   - Required pod affinity to the workload's own pods is kept as it is,
//     so with no replica running the placeholders cannot be placed.
//   - One container holds the sum: a LimitRange with a per-container
//     maximum below it rejects the placeholder, and one with per-container
//     defaults adds them once rather than per container.
//   - The capacity estimate (collector/capacity) counts placeholder pods as
//     occupied room, though real pods would preempt them.
package placeholder
