// Package loadgen is the demo's stand-in for an inference service's traffic:
// it replays a per-minute request trace on a compressed clock (one trace
// minute every Config.MinuteEvery of real time), serves it with the replicas
// that are Ready, and exports what a real model server would: requests,
// queue depth and latency as Prometheus metrics.
//
// # Serving model
//
// Requests arrive at the trace's rate, spread evenly within each trace minute.
// Every Ready replica serves Config.ReplicaCapacity requests per trace minute
// from one shared first-in first-out queue; what they cannot serve waits. The
// queue is fluid (request counts are real numbers) and advances in ticks: a
// request's latency is Config.ServiceTime plus the trace time between the
// tick it arrived in and the tick it was served in. Latencies are in trace
// time, what a user would wait on the uncompressed day, so they stay
// comparable across speeds.
//
// # Metrics
//
//	ai_requests_total{namespace, service}             counter: requests arrived
//	ai_request_queue_depth{namespace, deployment}     gauge: requests waiting
//	ai_request_duration_seconds{namespace, service}   histogram: latency (trace seconds)
//
// ai_requests_total is a pure function of the clock (the trace's cumulative
// sum), so History gives the same counter for instants before the generator
// started: backfilled into Prometheus, it continues without a reset into
// the live series, and rate() over it is the trace's demand.
package loadgen
