// Package cluster simulates a GPU inference Deployment and the request queue in
// front of it, tick by tick, for backtests: a per-minute demand trace goes in,
// an HPA model (or any policy) sets spec.replicas, and the package reports what
// was served, what queued, what was late, what the pods looked like to a
// metrics pipeline, and what the GPUs cost.
//
// It is pure: plain values in and out, time passed in, no clock, no I/O, no
// client libraries. The only randomness is the start-up jitter, drawn from a
// PCG generator seeded by Config.Seed, so the same inputs always give the
// same outputs.
//
// # Time
//
// The run starts at the instant given to New and advances one Tick (default
// 15 s, a divisor of a minute) per Advance. SetReplicas and SetGPUs act at an
// instant inside the next tick, [Now(), Now()+Tick), in non-decreasing order;
// pod lifecycle times (created, scheduled, Ready, deleted) are exact to the
// nanosecond, and GPU time, pending time and Ready capacity are the exact
// overlaps of those lifetimes with each tick. Minutes are counted from the
// start; the last tick of each minute also returns the minute's totals.
//
// # Pods
//
//   - Creation: raising spec.replicas creates the missing pods at once
//     (no ReplicaSet slow-start batches, no API latency).
//   - Scheduling: a pod needs GPUsPerReplica GPUs on one node. Pending pods
//     are bound in creation order (FIFO) as soon as a node has room, with no
//     scheduler latency. Among nodes with room the fullest is chosen (best
//     fit, like a MostAllocated scoring strategy on the GPU resource); all pods
//     are the same size, so placement never changes how many fit, only which
//     node a pod is on. By default there is one node holding every GPU.
//     The GPU pool is fixed unless the caller changes it with SetGPUs, or
//     elastic with NodeDelay (below).
//   - Start-up: a scheduled pod holds its GPUs at once (loading the model
//     costs GPU time) and becomes Ready Startup later, ± a uniform jitter of
//     at most StartupJitter drawn per pod. It never fails, restarts or goes
//     unready again. Initial pods given to New are Ready at the start.
//   - Scale-down: surplus pods are deleted in the order of the ReplicaSet
//     controller (ActivePodsWithRanks in kubernetes/kubernetes
//     pkg/controller/controller_utils.go) as far as this model can tell pods
//     apart: unscheduled first, then not Ready, then those sharing a node with
//     more of the Deployment's pods, then the most recently Ready, then the
//     most recently created, then the highest ID. Kubernetes compares ages on
//     a log₂ scale and breaks ties at random; this model compares them
//     exactly. Deleted pods stop serving and free their GPUs at once (no
//     graceful termination).
//   - Because unscheduled pods are always deleted first, lowering
//     spec.replicas never frees GPUs while pods are Pending: a Pending pod is
//     scheduled later only when SetGPUs adds GPUs. SetGPUs can also take
//     GPUs away; pods that no longer fit are evicted, most recently scheduled
//     first, and replaced by new Pending pods.
//
// # Elastic nodes
//
// With NodeDelay > 0 a node autoscaler (Karpenter, the cluster autoscaler)
// sizes the pool, within a limit of GPUs:
//
//   - The run starts with just the nodes the initial pods need, and at least
//     MinNodes.
//   - A pod that fits on no Ready node stays Pending, and nodes are requested
//     at once for the Pending pods that the nodes already launching will not
//     hold, packed GPUsPerNode/GPUsPerReplica pods to a node, as long as the
//     pool stays within GPUs/GPUsPerNode nodes. Karpenter gathers Pending
//     pods for 1 to 10 s before it asks; the model asks at once, which moves
//     a request by those seconds only.
//   - A requested node is Ready NodeDelay later (instance launch, boot,
//     driver install, joining the cluster); Pending pods are then bound to it
//     at that instant, and their start-up begins.
//   - A node left empty for ConsolidateAfter is removed (Karpenter's
//     consolidationPolicy WhenEmpty); MinNodes are never removed. Nodes are
//     never drained to pack pods tighter (no WhenEmptyOrUnderutilized), and
//     no disruption budget slows removals.
//   - NodeGPUHours count each node's GPUs from its request to its removal,
//     idle or not: what a user of an elastic pool pays for.
//
// # Placeholder pods
//
// On an elastic pool, SetPlaceholders keeps a number of placeholder pods:
// pause containers with the GPU request of one of the Deployment's pods and
// the lowest priority (the overprovisioning pattern). They are scheduled
// after the Deployment's Pending pods, call for nodes like them, and hold
// GPUs (counted apart, in PlaceholderGPUHours), so nodes come up before the
// Deployment needs them. A
// pod of the Deployment that finds no room preempts the placeholder
// scheduled last, at once (no graceful termination), and takes its GPUs;
// the placeholders' ReplicaSet creates a Pending replacement, which calls
// for a node in its turn. Placeholders never serve and are not in Pods.
//
// # Serving and the queue
//
// A Ready pod serves ReplicaCapacity requests per minute at its latency
// target. Requests form one fluid FIFO queue in front of all Ready pods (an
// ideal load balancer): in each tick the arrivals are spread evenly over the
// tick, and the Ready capacity of the tick (ReplicaCapacity × Ready
// pod-minutes) is spent at a constant rate over the tick, oldest requests
// first, never idling while requests wait. A pod that becomes Ready in the
// middle of a tick adds its share of capacity to the whole tick. Requests
// above capacity stay queued for later ticks; nothing is dropped and nobody
// gives up. With no Ready pod, everything queues.
//
// Conservation holds at every tick: the requests that arrived equal those
// served plus the backlog.
//
// Queue wait. With uniform arrivals and constant service in a tick, both the
// arrival time and the service time of the k-th request of a run are linear
// in k: a request that finds backlog B ahead of it at time s is served at
// s + B/μ while the server is busy at rate μ, exactly the "backlog ahead /
// service rate" rule, followed through later ticks at their own rates. The
// wait of each served run is therefore spread uniformly between the waits of
// its first and last request, and is added as such to a weighted histogram
// of waits (an exact-zero bin, then log-spaced bins 4.4 % wide from 1 ms,
// each remembering the range of waits it received). Quantiles interpolate
// linearly over that range inside a bin: exact when the bin's mass comes from
// one run or one point, otherwise within one bin width. Requests still queued
// count with their age so far, a lower bound on their wait. The wait excludes
// the service time itself. The one approximation beyond the fluid model is
// that the capacity of a tick is spent at a constant rate over it, even when a
// pod becomes Ready or is deleted inside the tick.
//
// Late. A request is late when its queue wait exceeds MaxWait (default one
// tick). It is counted once, in the tick in which its wait passes MaxWait,
// whether it is served later or still queued at the end of the run.
//
// # Metrics for an HPA model
//
// Pods returns each pod with its phase, creation, scheduling and Ready times,
// and, for pods Ready at the end of the last tick, a metric sample; unready
// pods have none, as in the HPA, which ignores them:
//
//   - QueueDepth (ai_request_queue_depth): requests waiting or in service at
//     the end of the tick, divided equally among the Ready pods:
//     (backlog + throughput × ServiceTime) / Ready pods, the requests in
//     service given by Little's law from the tick's served rate. With
//     ServiceTime 0 it counts waiting requests only. The sum over pods is the
//     whole queue, so an AverageValue target sees the total.
//   - Utilization, the CPU-like signal: (served in the tick + backlog at its
//     end) / (Ready pods × one pod's capacity in a tick). It is 1 when the pods
//     just keep up and above 1 when work piles up; a real CPU metric saturates
//     near its limit, which a caller can model with min(Utilization, limit).
//
// Pods of one Deployment behind one queue are interchangeable, so every Ready
// pod reports the same values.
//
// # Summary
//
// Overloaded minutes are complete minutes whose demand exceeded their Ready
// capacity; late percent is 100 × late / demand; P99Wait is the 0.99
// quantile above; GPU-hours sum GPUsPerReplica × the time each pod held its
// GPUs (from scheduling to deletion, start-up included), placeholder and
// node GPU-hours as above; scale events count
// changes of spec.replicas; pending-pod minutes sum the time pods spent
// unscheduled.
package cluster
